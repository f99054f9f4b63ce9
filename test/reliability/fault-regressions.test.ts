import { Logger } from '@aws-lambda-powertools/logger';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbExpiredSessions } from '../../lambda/cleanup/expired-sessions';
import { createSweeper, DEFAULT_SWEEPER_OPTIONS } from '../../lambda/cleanup/sweeper';
import { composeDeps } from '../../lambda/compose';
import { createHandler } from '../../lambda/create-handler';
import type { HandlerDeps } from '../../lambda/handlers/types';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import { createSession, sendFragment } from '../helpers/bits-client-steps';
import { BITS_PROTOCOL, send } from '../helpers/events';
import { FaultInjector } from '../helpers/fault-injection';
import { TestClock, testConfig } from '../helpers/test-deps';

const MiB = 1024 * 1024;
const TIMEOUT_SECONDS = 3600;
const GRACE_SECONDS = 300;

/** Defects the fault runs exposed, each pinned by a test of the correct behaviour. */

// Emulator round trips are quick, but a full `npm test` runs many suites at once on two cores.
jest.setTimeout(30_000);

describe('defects found by fault injection', () => {
  let env: AwsTestEnv;
  let injector: FaultInjector;
  let clock: TestClock;
  let deps: HandlerDeps;

  beforeAll(async () => {
    env = await createAwsTestEnv('known-bugs');
    injector = new FaultInjector({ seed: 1 });
    injector.attach(env.clients.s3, env.clients.dynamo);
    clock = new TestClock(Date.now() + 24 * 3600 * 1000);
    const config = testConfig({
      tableName: env.tableName,
      bucketName: env.bucketName,
      partSize: String(5 * MiB),
      sessionTimeoutSeconds: String(TIMEOUT_SECONDS),
      logLevel: 'SILENT',
    });
    deps = { ...composeDeps(config, env.clients, new Logger({ logLevel: 'SILENT' })), now: clock.now };
  }, 60_000);

  afterAll(async () => {
    await env?.destroy();
  });

  it('Create-Session succeeds when the SDK resends a PutItem whose first response was lost', async () => {
    const handler = createHandler(deps);
    // The first PutItem attempt writes the session; its response is lost; the SDK's retry then
    // fails `attribute_not_exists(pk)` → SessionExistsError → 500 E_FAIL, although the session exists.
    injector.configure({ seed: 1, rules: [{ kind: 'lost-response', command: 'PutItemCommand', nth: 1 }] });
    const created = await injector.invoke('create', () =>
      send(handler, {
        path: '/lost-put.bin',
        headers: { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL },
      }),
    );
    expect(created.faults.map((fault) => fault.kind)).toEqual(['lost-response']);
    expect(created.value?.status).toBe(200);
  });

  it('keeps an expired session record from TTL until the sweeper ran, and gives its part items a TTL', async () => {
    injector.configure({ seed: 1 });
    const handler = createHandler(deps);
    const id = await createSession(handler, '/ttl-race.bin');
    const file = Buffer.alloc(5 * MiB + 10, 1);
    expect((await sendFragment(handler, id, 0, file.subarray(0, 3 * MiB), file.length)).status).toBe(200);
    expect(
      (await sendFragment(handler, id, 3 * MiB, file.subarray(3 * MiB, 5 * MiB), file.length)).status,
    ).toBe(200);
    const items = await env.clients.documents.send(
      new QueryCommand({
        TableName: env.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `SESSION#${id}` },
        ConsistentRead: true,
      }),
    );
    const meta = items.Items?.find((item) => item.sk === 'META');
    // TTL may act any time after `ttl`: a week past expiry, the sweeper (every few minutes) runs first.
    expect(Number(meta?.ttl)).toBeGreaterThanOrEqual(
      Math.ceil(Number(meta?.expiresAt) / 1000) + 7 * 24 * 3600,
    );
    const parts = items.Items?.filter((item) => String(item.sk).startsWith('PART#')) ?? [];
    expect(parts.length).toBeGreaterThan(0);
    for (const part of parts) expect(Number(part.ttl)).toBeGreaterThan(Number(meta?.ttl));
    // The sweeper then removes the expired session and its parts.
    clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    await createSweeper(deps, new DynamoDbExpiredSessions(env.clients.documents, env.tableName), {
      ...DEFAULT_SWEEPER_OPTIONS,
      graceSeconds: GRACE_SECONDS,
    })();
    const after = await env.clients.documents.send(
      new QueryCommand({
        TableName: env.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `SESSION#${id}` },
        ConsistentRead: true,
      }),
    );
    expect(after.Items?.filter((item) => String(item.sk).startsWith('PART#'))).toEqual([]);
  });
});
