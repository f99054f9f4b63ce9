import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { errorCode } from '../../lambda/adapters/aws-errors';
import { S3UploadStore } from '../../lambda/adapters/s3-upload-store';
import { StoreUnavailableError } from '../../lambda/ports/errors';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import { type CallObservation, FaultInjector, InjectedCrash } from '../helpers/fault-injection';

// Emulator round trips are quick, but a full `npm test` runs many suites at once on two cores.
jest.setTimeout(30_000);

/** Base64 SHA-256 of one zero byte, the staged chunk written below. */
const ONE_ZERO_BYTE_SHA256 = createHash('sha256').update(new Uint8Array(1)).digest('base64');

describe('fault injection middleware on the real SDK clients', () => {
  let env: AwsTestEnv;
  let injector: FaultInjector;
  const observed: CallObservation[] = [];
  let counter = 0;
  const key = () => {
    counter += 1;
    return `fi/${counter}`;
  };

  beforeAll(async () => {
    env = await createAwsTestEnv('faults');
    injector = new FaultInjector({ seed: 7 });
    injector.attach(env.clients.s3, env.clients.dynamo);
    injector.observe((call) => observed.push(call));
  }, 60_000);

  afterAll(async () => {
    await env?.destroy();
  });

  const put = (Key: string) =>
    env.clients.s3.send(new PutObjectCommand({ Bucket: env.bucketName, Key, Body: 'x' }));
  const exists = async (Key: string) =>
    env.clients.s3.send(new HeadObjectCommand({ Bucket: env.bucketName, Key })).then(
      () => true,
      (error: unknown) => {
        if (errorCode(error) === 'NotFound') return false;
        throw error;
      },
    );

  it('leaves calls outside an invocation alone, whatever the rates', async () => {
    injector.configure({ seed: 7, rates: { 'fail-before': 1 } });
    const target = key();
    await put(target);
    expect(await exists(target)).toBe(true);
  });

  it('fail-before: the call never happens and the adapter sees a transient error (503 for the client)', async () => {
    injector.configure({ seed: 7, rates: { 'fail-before': 1 } });
    const target = key();
    const store = new S3UploadStore(env.clients.s3, env.bucketName);
    const outcome = await injector.invoke('put', () =>
      store.putStagedChunk(target, new Uint8Array(1), ONE_ZERO_BYTE_SHA256),
    );
    expect(outcome.error).toBeInstanceOf(StoreUnavailableError);
    expect(outcome.faults).toEqual([{ kind: 'fail-before', command: 'PutObjectCommand', call: 1 }]);
    injector.configure({ seed: 7 });
    expect(await exists(target)).toBe(false);
  });

  it('fail-after: the write happens, the caller sees an error', async () => {
    injector.configure({ seed: 7, rules: [{ kind: 'fail-after', command: 'PutObjectCommand', nth: 1 }] });
    const target = key();
    const outcome = await injector.invoke('put', () => put(target));
    expect(['SlowDown', 'ServiceUnavailable', 'InternalError']).toContain(errorCode(outcome.error));
    expect(await exists(target)).toBe(true);
  });

  it('crash: the write happens, the invocation dies, and it makes no further call; others go on', async () => {
    injector.configure({ seed: 7, rules: [{ kind: 'crash', label: 'dying', nth: 1 }] });
    const [first, second, bystander] = [key(), key(), key()];
    const [dying, living] = await Promise.all([
      injector.invoke('dying', async () => {
        await put(first).catch(() => undefined);
        await put(second);
      }),
      injector.invoke('living', () => put(bystander)),
    ]);
    expect(dying.crashed).toBe(true);
    expect(dying.error).toBeInstanceOf(InjectedCrash);
    expect(dying.calls).toBe(2);
    expect(living.crashed).toBe(false);
    expect([await exists(first), await exists(second), await exists(bystander)]).toEqual([true, false, true]);
  });

  it('lost-response: the SDK sends the request again, so a conditional write meets its own first attempt', async () => {
    injector.configure({ seed: 7, rules: [{ kind: 'lost-response', command: 'PutItemCommand', nth: 1 }] });
    observed.length = 0;
    const item = { pk: `fi-${key()}`, sk: 'META' };
    const outcome = await injector.invoke('put', () =>
      env.clients.documents.send(
        new PutCommand({
          TableName: env.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
    expect(errorCode(outcome.error)).toBe('ConditionalCheckFailedException');
    expect(observed.filter((call) => call.command === 'PutItemCommand').map((call) => call.lost)).toEqual([
      true,
    ]);
    const { Item } = await env.clients.documents.send(
      new GetCommand({ TableName: env.tableName, Key: item }),
    );
    expect(Item).toEqual(item);
  });

  it('delay: the call starts late', async () => {
    injector.configure({ seed: 7, rates: { delay: 1 }, delayMs: [40, 40] });
    const started = Date.now();
    const outcome = await injector.invoke('put', () => put(key()));
    expect(Date.now() - started).toBeGreaterThanOrEqual(38);
    expect(outcome.faults.map((fault) => fault.kind)).toEqual(['delay']);
  });

  it('drains the body of a response the caller never sees, so the connection pool does not run dry', async () => {
    const target = key();
    await put(target);
    injector.configure({ seed: 7, rates: { 'fail-after': 1 } });
    // More than the SDK's 50 sockets per host: unread bodies would leave the last calls waiting forever.
    for (let index = 0; index < 60; index += 1) {
      const outcome = await injector.invoke('get', () =>
        env.clients.s3.send(new GetObjectCommand({ Bucket: env.bucketName, Key: target })),
      );
      expect(outcome.faults.map((fault) => fault.kind)).toEqual(['fail-after']);
    }
    injector.configure({ seed: 7 });
    expect(await exists(target)).toBe(true);
  }, 15_000);

  it('draws the same faults for the same seed and call sequence, and counts them by kind and command', async () => {
    const schedule = async (seed: number) => {
      injector.configure({ seed, rates: { 'fail-before': 0.3, delay: 0.3 }, delayMs: [0, 0] });
      const kinds: string[] = [];
      for (let index = 0; index < 20; index += 1) {
        const outcome = await injector.invoke('put', () => put(key()));
        kinds.push(outcome.faults.map((fault) => fault.kind).join('+') || '-');
      }
      return kinds.join(' ');
    };
    const before = injector.totals()['fail-before'];
    const first = await schedule(11);
    expect(await schedule(11)).toBe(first);
    expect(await schedule(12)).not.toBe(first);
    expect(injector.totals()['fail-before']).toBeGreaterThan(before);
    expect(injector.stats().get('fail-before')?.get('PutObjectCommand')).toBeGreaterThan(0);
  });
});
