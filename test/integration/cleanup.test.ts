import { createHash, randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { GetObjectCommand, ListObjectsV2Command, UploadPartCommand } from '@aws-sdk/client-s3';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { errorCode } from '../../lambda/adapters/aws-errors';
import { stagingFolder } from '../../lambda/assembler/staging';
import { DynamoDbExpiredSessions } from '../../lambda/cleanup/expired-sessions';
import { createSweeper, DEFAULT_SWEEPER_OPTIONS, type SweeperOptions } from '../../lambda/cleanup/sweeper';
import { composeDeps } from '../../lambda/compose';
import { createHandler } from '../../lambda/create-handler';
import type { HandlerDeps } from '../../lambda/handlers/types';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import { createSession, sendFragment, sendPacket } from '../helpers/bits-client-steps';
import { FaultInjector } from '../helpers/fault-injection';
import { TestClock, testConfig } from '../helpers/test-deps';

const KiB = 1024;
const MiB = 1024 * KiB;
const PART = 5 * MiB;
const TIMEOUT_SECONDS = 3600;
const TOMBSTONE_SECONDS = 86_400;
const GRACE_SECONDS = 300;
const SESSION_NOT_FOUND = '0x8020001F';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface Bed {
  readonly env: AwsTestEnv;
  readonly clock: TestClock;
  readonly deps: HandlerDeps;
  readonly handler: ReturnType<typeof createHandler>;
  sweep(options?: Partial<SweeperOptions>): ReturnType<ReturnType<typeof createSweeper>>;
}

/** The production handler and sweeper on the emulators, with a fresh table and bucket and a test clock. */
async function makeBed(): Promise<Bed> {
  const env = await createAwsTestEnv('cleanup');
  const config = testConfig({
    tableName: env.tableName,
    bucketName: env.bucketName,
    partSize: String(PART),
    sessionTimeoutSeconds: String(TIMEOUT_SECONDS),
    tombstoneSeconds: String(TOMBSTONE_SECONDS),
    logLevel: 'SILENT',
  });
  // Ahead of real time, so the emulator's TTL never removes a record the test still uses.
  const clock = new TestClock(Date.now() + 24 * 3600 * 1000);
  const deps: HandlerDeps = {
    ...composeDeps(config, env.clients, new Logger({ logLevel: 'SILENT' })),
    now: clock.now,
  };
  const source = new DynamoDbExpiredSessions(env.clients.documents, env.tableName, { pageSize: 3 });
  return {
    env,
    clock,
    deps,
    handler: createHandler(deps),
    sweep: (options = {}) =>
      createSweeper(deps, source, { ...DEFAULT_SWEEPER_OPTIONS, graceSeconds: GRACE_SECONDS, ...options })(),
  };
}

async function stagedKeys(bed: Bed, id: string): Promise<string[]> {
  const listed = await bed.env.clients.s3.send(
    new ListObjectsV2Command({
      Bucket: bed.env.bucketName,
      Prefix: stagingFolder(bed.deps.config.stagingPrefix, id),
    }),
  );
  return (listed.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
}

async function partItems(bed: Bed, id: string): Promise<number> {
  const parts = await bed.env.clients.documents.send(
    new QueryCommand({
      TableName: bed.env.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :part)',
      ExpressionAttributeValues: { ':pk': `SESSION#${id}`, ':part': 'PART#' },
      ConsistentRead: true,
    }),
  );
  return parts.Count ?? 0;
}

/** fauxqs has no ListMultipartUploads: UploadPart on the id answers NoSuchUpload once it is gone. */
async function uploadGone(bed: Bed, key: string, uploadId: string): Promise<boolean> {
  try {
    await bed.env.clients.s3.send(
      new UploadPartCommand({
        Bucket: bed.env.bucketName,
        Key: key,
        UploadId: uploadId,
        PartNumber: 10_000,
        Body: new Uint8Array(1),
      }),
    );
    return false;
  } catch (error) {
    if (errorCode(error) === 'NoSuchUpload') return true;
    throw error;
  }
}

/** A session holding a 5 MiB part and a staged chunk, with the bytes it still needs. */
async function halfUploaded(bed: Bed, path: string) {
  const file = randomBytes(PART + 300 * KiB);
  const id = await createSession(bed.handler, path);
  const first = await sendFragment(bed.handler, id, 0, file.subarray(0, 3 * MiB), file.length);
  expect(first.status).toBe(200);
  const second = await sendFragment(
    bed.handler,
    id,
    3 * MiB,
    file.subarray(3 * MiB, PART + 100 * KiB),
    file.length,
  );
  expect(second.status).toBe(200);
  const session = await bed.deps.sessions.getSession(id);
  if (session === undefined) throw new Error(`no record of ${id}`);
  expect(await stagedKeys(bed, id)).toHaveLength(1);
  expect(await partItems(bed, id)).toBe(1);
  return { id, file, session, resumeAt: PART + 100 * KiB };
}

// Emulator round trips are quick, but a full `npm test` runs many suites at once on two cores.
jest.setTimeout(30_000);

describe('the sweeper on DynamoDB Local and fauxqs', () => {
  const beds: Bed[] = [];
  const bed = async () => {
    const made = await makeBed();
    beds.push(made);
    return made;
  };
  afterAll(async () => {
    await Promise.all(beds.map((made) => made.env.destroy()));
  });

  it('removes an abandoned session completely: staged chunks, part items, the multipart upload', async () => {
    const b = await bed();
    const { id, session } = await halfUploaded(b, '/abandoned.bin');
    expect(await uploadGone(b, session.key, session.uploadId)).toBe(false);

    b.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    expect(await b.sweep()).toMatchObject({ discarded: 1, failed: 0, complete: true });

    expect(await stagedKeys(b, id)).toEqual([]);
    expect(await partItems(b, id)).toBe(0);
    expect(await uploadGone(b, session.key, session.uploadId)).toBe(true);
    expect((await b.deps.sessions.getSession(id))?.state).toBe('cancelled');
    expect(await b.deps.uploads.headObject(session.key)).toBeUndefined();
    const late = await sendFragment(b.handler, id, 0, new Uint8Array(1), PART + 300 * KiB);
    expect([late.status, late.headers['bits-error-code']]).toEqual([500, SESSION_NOT_FOUND]);
  });

  it('leaves an open session that has not expired untouched: it still completes byte for byte', async () => {
    const b = await bed();
    const stale = await halfUploaded(b, '/stale.bin');
    b.clock.advance(TIMEOUT_SECONDS / 2);
    const live = await halfUploaded(b, '/live.bin');
    // The stale session is past its expiry and the grace period; the live one has half its timeout left.
    b.clock.advance(TIMEOUT_SECONDS / 2 + GRACE_SECONDS);

    expect(await b.sweep()).toMatchObject({ discarded: 1, failed: 0 });

    expect((await b.deps.sessions.getSession(stale.id))?.state).toBe('cancelled');
    expect((await b.deps.sessions.getSession(live.id))?.state).toBe('open');
    expect(await stagedKeys(b, live.id)).toHaveLength(1);
    expect(await partItems(b, live.id)).toBe(1);
    const rest = live.file.subarray(live.resumeAt);
    expect((await sendFragment(b.handler, live.id, live.resumeAt, rest, live.file.length)).status).toBe(200);
    expect((await sendPacket(b.handler, 'Close-Session', live.id)).status).toBe(200);
    const object = await b.env.clients.s3.send(
      new GetObjectCommand({ Bucket: b.env.bucketName, Key: live.session.key }),
    );
    expect(sha256((await object.Body?.transformToByteArray()) ?? new Uint8Array())).toBe(sha256(live.file));
  });

  it('leaves a closed session and its object alone, and forgets the record once its tombstone expires', async () => {
    const b = await bed();
    const file = randomBytes(10 * KiB);
    const id = await createSession(b.handler, '/closed.bin');
    expect((await sendFragment(b.handler, id, 0, file, file.length)).status).toBe(200);
    expect((await sendPacket(b.handler, 'Close-Session', id)).status).toBe(200);

    b.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    expect(await b.sweep()).toMatchObject({ discarded: 0, forgotten: 0, failed: 0 });
    expect((await b.deps.sessions.getSession(id))?.state).toBe('closed');
    // A retried Close after a lost ack is still answered within the tombstone's lifetime.
    expect((await sendPacket(b.handler, 'Close-Session', id)).status).toBe(200);

    b.clock.advance(TOMBSTONE_SECONDS);
    expect(await b.sweep()).toMatchObject({ discarded: 0, forgotten: 1, failed: 0 });
    expect(await b.deps.sessions.getSession(id)).toBeUndefined();
    expect((await b.deps.uploads.headObject('uploads/closed.bin'))?.size).toBe(file.length);
  });

  it('finishes a Cancel-Session that died after recording the cancellation, once the tombstone expires', async () => {
    const b = await bed();
    const injector = new FaultInjector({
      seed: 1,
      rules: [{ kind: 'crash', command: 'UpdateItemCommand', label: 'cancel', nth: 1 }],
    });
    injector.attach(b.env.clients.s3, b.env.clients.dynamo);
    const { id, session } = await halfUploaded(b, '/cancelled.bin');

    const crashed = await injector.invoke('cancel', () => sendPacket(b.handler, 'Cancel-Session', id));
    expect(crashed.crashed).toBe(true);
    // The client retries; the session is cancelled already, so Cancel-Session has nothing to do.
    expect((await sendPacket(b.handler, 'Cancel-Session', id)).status).toBe(200);
    const left = (await stagedKeys(b, id)).length + (await partItems(b, id));

    b.clock.advance(TOMBSTONE_SECONDS + GRACE_SECONDS);
    expect(await b.sweep()).toMatchObject({ forgotten: 1, failed: 0 });
    expect(await stagedKeys(b, id)).toEqual([]);
    expect(await partItems(b, id)).toBe(0);
    expect(await uploadGone(b, session.key, session.uploadId)).toBe(true);
    expect(await b.deps.sessions.getSession(id)).toBeUndefined();
    process.stdout.write(
      `cancel crashed after recording the cancellation: ${left} leftovers until the tombstone sweep\n`,
    );
  });

  it('pages through the table and bounds the work of one run', async () => {
    const b = await bed();
    const ids: string[] = [];
    for (let index = 0; index < 7; index += 1) ids.push(await createSession(b.handler, `/many/${index}.bin`));
    b.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);

    // The rest of the scan is still read, to count what is left for the stuck-sessions metric.
    expect(await b.sweep({ maxSessions: 5 })).toMatchObject({
      discarded: 5,
      left: 2,
      complete: false,
      stoppedBy: 'max-sessions',
    });
    expect(await b.sweep({ maxSessions: 5 })).toMatchObject({ discarded: 2, complete: true });
    const states = await Promise.all(ids.map(async (id) => (await b.deps.sessions.getSession(id))?.state));
    expect(states).toEqual(ids.map(() => 'cancelled'));
  });

  it('frees an abandoned session within timeout + grace + one sweep interval (simulated 15-minute schedule)', async () => {
    const b = await bed();
    const interval = 15 * 60;
    // The schedule fires at start, start + interval, …; sessions go quiet at moments in between.
    const start = b.clock.ms;
    const abandoned: { id: string; quietAt: number; key: string; uploadId: string }[] = [];
    for (const offset of [0, 60, 7 * 60, interval - 1]) {
      b.clock.ms = start + offset * 1000;
      const { id, session } = await halfUploaded(b, `/quiet/${offset}.bin`);
      abandoned.push({ id, quietAt: b.clock.ms, key: session.key, uploadId: session.uploadId });
    }
    const lingered = new Map<string, number>();
    for (let ticks = 1; lingered.size < abandoned.length && ticks < 20; ticks += 1) {
      b.clock.ms = start + ticks * interval * 1000;
      await b.sweep();
      for (const session of abandoned) {
        if (lingered.has(session.id)) continue;
        const gone =
          (await stagedKeys(b, session.id)).length === 0 &&
          (await partItems(b, session.id)) === 0 &&
          (await uploadGone(b, session.key, session.uploadId));
        if (gone) lingered.set(session.id, (b.clock.ms - session.quietAt) / 1000);
      }
    }
    const worst = Math.max(...lingered.values());
    process.stdout.write(
      `abandoned storage lingered ${[...lingered.values()].map((s) => `${s} s`).join(', ')} ` +
        `(timeout ${TIMEOUT_SECONDS} s + grace ${GRACE_SECONDS} s + interval ${interval} s = ${TIMEOUT_SECONDS + GRACE_SECONDS + interval} s)\n`,
    );
    expect(lingered.size).toBe(abandoned.length);
    expect(worst).toBeLessThanOrEqual(TIMEOUT_SECONDS + GRACE_SECONDS + interval);
    expect(worst).toBeGreaterThan(TIMEOUT_SECONDS + GRACE_SECONDS);
  }, 60_000);
});
