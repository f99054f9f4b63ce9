import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { ListObjectsV2Command, UploadPartCommand } from '@aws-sdk/client-s3';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AdminIo, runCli } from '../../admin/cli';
import {
  type AdminContext,
  cancelSession,
  listSessions,
  showSession,
  sweepExpired,
} from '../../admin/sessions';
import { errorCode } from '../../lambda/adapters/aws-errors';
import { stagingFolder } from '../../lambda/assembler/staging';
import { composeDeps } from '../../lambda/compose';
import type { Config } from '../../lambda/config';
import { type BitsLambdaHandler, createHandler } from '../../lambda/create-handler';
import type { HandlerDeps } from '../../lambda/handlers/types';
import type { Session } from '../../lambda/ports/session-store';
import { type AwsTestEnv, createAwsTestEnv, emulatorEndpoints } from '../helpers/aws-test-env';
import { sendFragment, sendPacket } from '../helpers/bits-client-steps';
import { BITS_PROTOCOL, send } from '../helpers/events';
import { TestClock, testConfig } from '../helpers/test-deps';

/**
 * bits-admin against the emulators: uploads in progress are made through the real handler and
 * adapters (composeDeps + createHandler), then listed, shown, cancelled and swept.
 */

const MiB = 1024 * 1024;
const TIMEOUT_SECONDS = 3600;
const SILENT = new Logger({ logLevel: 'SILENT' });

let env: AwsTestEnv;
let config: Config;
let clock: TestClock;
let deps: HandlerDeps;
let handler: BitsLambdaHandler;
let admin: AdminContext;

beforeEach(async () => {
  env = await createAwsTestEnv('admin');
  config = testConfig({
    tableName: env.tableName,
    bucketName: env.bucketName,
    partSize: String(5 * MiB),
    sessionTimeoutSeconds: String(TIMEOUT_SECONDS),
    // The tests name owners through an authorizer principal, which only upstream mode trusts.
    authMode: 'upstream',
  });
  // Real time, moved by hand: expiry is decided by this clock, and TTL never sees a past date.
  clock = new TestClock(Date.now());
  deps = { ...composeDeps(config, env.clients, SILENT), now: clock.now };
  handler = createHandler(deps);
  // A page size of 1 makes every listing walk many Scan pages (META and PART items alike).
  admin = { deps, documents: env.clients.documents, pageSize: 1 };
});
afterEach(async () => {
  await env.destroy();
});

/** Create-Session for `path` as `principal`, then fragments of 2 MiB until `sent` bytes of `total`. */
async function startUpload(path: string, sent: number, total: number, principal = 'alice'): Promise<string> {
  const created = await send(handler, {
    path,
    principal,
    headers: { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL },
  });
  const id = created.headers['bits-session-id'];
  if (created.status !== 200 || id === undefined) throw new Error(`Create-Session: ${created.status}`);
  for (let offset = 0; offset < sent; offset += 2 * MiB) {
    const body = randomBytes(Math.min(2 * MiB, sent - offset));
    const answer = await sendFragment(handler, id, offset, body, total, { path, principal });
    if (answer.status !== 200) throw new Error(`Fragment at ${offset}: ${answer.status}`);
  }
  return id;
}

async function session(id: string): Promise<Session> {
  const found = await deps.sessions.getSession(id);
  if (found === undefined) throw new Error(`no session ${id}`);
  return found;
}

/** S3 has the multipart upload: a probe part (never completed) is accepted, not NoSuchUpload. */
async function uploadExists(id: string): Promise<boolean> {
  const { key, uploadId } = await session(id);
  try {
    await env.clients.s3.send(
      new UploadPartCommand({
        Bucket: env.bucketName,
        Key: key,
        UploadId: uploadId,
        PartNumber: 10_000,
        Body: 'x',
      }),
    );
    return true;
  } catch (error) {
    if (errorCode(error) === 'NoSuchUpload') return false;
    throw error;
  }
}

async function stagedObjects(id: string): Promise<string[]> {
  const listed = await env.clients.s3.send(
    new ListObjectsV2Command({ Bucket: env.bucketName, Prefix: stagingFolder(config.stagingPrefix, id) }),
  );
  return (listed.Contents ?? []).map((object) => object.Key ?? '');
}

async function partItems(id: string): Promise<number> {
  const { Items } = await env.clients.documents.send(
    new QueryCommand({
      TableName: env.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :part)',
      ExpressionAttributeValues: { ':pk': `SESSION#${id}`, ':part': 'PART#' },
      ConsistentRead: true,
    }),
  );
  return Items?.length ?? 0;
}

/** Everything an in-progress upload holds, for before/after comparisons. */
const holdings = async (id: string) => ({
  state: (await session(id)).state,
  upload: await uploadExists(id),
  staged: (await stagedObjects(id)).length,
  parts: await partItems(id),
});

describe('sessions list / show', () => {
  it('lists open sessions with owner, key, progress and age, oldest first, and only open ones', async () => {
    const big = await startUpload('/admin/big.bin', 6 * MiB, 20 * MiB);
    clock.advance(30);
    const fresh = await startUpload('/admin/fresh.bin', 0, 0, 'bob');
    clock.advance(1);
    const done = await startUpload('/admin/done.bin', 1000, 1000);
    expect((await sendPacket(handler, 'Close-Session', done, { principal: 'alice' })).status).toBe(200);
    clock.advance(59);

    const listed = await listSessions(admin);

    expect(listed.map((entry) => entry.id)).toEqual([big, fresh]);
    expect(listed[0]).toMatchObject({
      owner: 'alice',
      key: 'uploads/admin/big.bin',
      state: 'open',
      nextOffset: 6 * MiB,
      totalSize: 20 * MiB,
      progressPercent: 30,
      partsDone: 1,
      stagedChunks: 1,
      ageSeconds: 90,
      expired: false,
    });
    expect(listed[1]).toMatchObject({ owner: 'bob', totalSize: null, progressPercent: null, ageSeconds: 60 });
    const everything = await listSessions(admin, { all: true });
    expect(everything.map((entry) => [entry.id, entry.state])).toEqual([
      [big, 'open'],
      [fresh, 'open'],
      [done, 'closed'],
    ]);
  });

  it('shows the session record and its part items', async () => {
    const id = await startUpload('/admin/show.bin', 6 * MiB, 20 * MiB);

    const detail = await showSession(admin, id.slice(1, -1).toLowerCase());

    expect(detail?.session).toMatchObject({ id, partSize: 5 * MiB, nextOffset: 6 * MiB });
    expect(detail?.session.staged).toEqual([
      expect.objectContaining({ start: 5 * MiB, end: 6 * MiB, level: 0 }),
    ]);
    expect(detail?.parts).toEqual([
      { partNumber: 1, etag: expect.any(String), size: 5 * MiB, checksum: expect.any(String) },
    ]);
    expect(await showSession(admin, '{00000000-0000-4000-8000-000000000000}')).toBeUndefined();
  });
});

describe('sessions cancel', () => {
  it('aborts the multipart upload and deletes staged objects and part items, like Cancel-Session', async () => {
    const id = await startUpload('/admin/cancel.bin', 6 * MiB, 20 * MiB);
    expect(await holdings(id)).toEqual({ state: 'open', upload: true, staged: 1, parts: 1 });

    expect(await cancelSession(admin, id)).toEqual({ id, outcome: 'cancelled' });

    expect(await holdings(id)).toEqual({ state: 'cancelled', upload: false, staged: 0, parts: 0 });
    const next = await sendFragment(handler, id, 6 * MiB, randomBytes(10), 20 * MiB, { principal: 'alice' });
    expect(next.status).toBe(500);
    expect(next.headers['bits-error-code']).toBe('0x8020001F');
    expect(await cancelSession(admin, id)).toEqual({ id, outcome: 'already-cancelled' });
    expect((await listSessions(admin)).map((entry) => entry.id)).not.toContain(id);
  });

  it('reports an unknown session and leaves a closed one alone', async () => {
    const done = await startUpload('/admin/closed.bin', 10, 10);
    await sendPacket(handler, 'Close-Session', done, { principal: 'alice' });

    expect(await cancelSession(admin, done)).toEqual({ id: done, outcome: 'already-closed' });
    const unknown = '{00000000-0000-4000-8000-000000000000}';
    expect(await cancelSession(admin, unknown)).toEqual({ id: unknown, outcome: 'not-found' });
  });
});

describe('sessions sweep', () => {
  /**
   * `old` idles from t0, `recent` from t0 + 4 min, `alive` from t0 + 40 min; at t0 + 66 min, with
   * 60 min sessions, `old` expired 6 min ago, `recent` 2 min ago (inside the 5 min grace period).
   */
  async function threeSessions() {
    const old = await startUpload('/admin/old.bin', 6 * MiB, 20 * MiB);
    clock.advance(4 * 60);
    const recent = await startUpload('/admin/recent.bin', 2 * MiB, 20 * MiB);
    clock.advance(36 * 60);
    const alive = await startUpload('/admin/new.bin', 2 * MiB, 20 * MiB);
    clock.advance(26 * 60);
    return { old, recent, alive };
  }

  it('with dryRun lists only the open sessions expired past the grace period and changes nothing', async () => {
    const { old, recent, alive } = await threeSessions();
    const before = await holdings(old);

    const result = await sweepExpired(admin, { dryRun: true });
    const withoutGrace = await sweepExpired(admin, { dryRun: true, graceSeconds: 0 });

    expect(result.expired.map((entry) => [entry.id, entry.expired])).toEqual([[old, true]]);
    expect(result).toMatchObject({ dryRun: true, discarded: [], failed: [] });
    expect(Date.parse(result.now) - Date.parse(result.cutoff)).toBe(300_000);
    expect(withoutGrace.expired.map((entry) => entry.id)).toEqual([old, recent]);
    expect(await holdings(old)).toEqual(before);
    expect((await listSessions(admin)).map((entry) => [entry.id, entry.expired])).toEqual([
      [old, true],
      [recent, true],
      [alive, false],
    ]);
  });

  it('discards expired sessions the way Cancel-Session does and keeps live ones', async () => {
    const { old, recent, alive } = await threeSessions();

    const result = await sweepExpired(admin, { dryRun: false });

    expect(result.discarded).toEqual([old]);
    expect(await holdings(old)).toEqual({ state: 'cancelled', upload: false, staged: 0, parts: 0 });
    expect(await holdings(recent)).toEqual({ state: 'open', upload: true, staged: 1, parts: 0 });
    expect(await holdings(alive)).toEqual({ state: 'open', upload: true, staged: 1, parts: 0 });
    expect((await sweepExpired(admin, { dryRun: false, graceSeconds: 0 })).discarded).toEqual([recent]);
    expect(await holdings(recent)).toMatchObject({ state: 'cancelled', upload: false, staged: 0 });
    expect((await sweepExpired(admin, { dryRun: false, graceSeconds: 0 })).expired).toEqual([]);
  });
});

describe('the bits-admin command', () => {
  /** Runs the CLI in this process, on the emulators, with the test clock. */
  async function cli(args: readonly string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const io: AdminIo = {
      stdout: { write: (text: string) => out.push(text) },
      stderr: { write: (text: string) => err.push(text) },
      env: {},
      now: clock.now,
      pageSize: 2,
    };
    const code = await runCli(args, io);
    return { code, stdout: out.join(''), stderr: err.join('') };
  }
  const target = () => {
    const { s3Endpoint, dynamoEndpoint } = emulatorEndpoints();
    return [
      '--s3-endpoint',
      s3Endpoint,
      '--dynamo-endpoint',
      dynamoEndpoint,
      '--table',
      env.tableName,
      '--bucket',
      env.bucketName,
    ];
  };

  it('prints a table for people and JSON for scripts', async () => {
    const id = await startUpload('/admin/cli.bin', 6 * MiB, 20 * MiB);

    const table = await cli(['sessions', 'list', ...target()]);
    const json = await cli(['--json', 'sessions', 'list', ...target()]);

    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^SESSION\s+STATE\s+OWNER\s+KEY\s+PROGRESS\s+AGE$/);
    expect(table.stdout).toContain(
      `${id}  open   alice  uploads/admin/cli.bin  30.0% (6.0 MiB of 20.0 MiB)  0s`,
    );
    expect(table.stderr).toContain(`table ${env.tableName}`);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ id, progressPercent: 30 })]);
  });

  it('finds the local server through its state file', async () => {
    const id = await startUpload('/admin/state.bin', 0, 0);
    const dir = await mkdtemp(path.join(tmpdir(), 'bits-admin-'));
    const { s3Endpoint, dynamoEndpoint } = emulatorEndpoints();
    const file = path.join(dir, 'local-server.json');
    await writeFile(
      file,
      JSON.stringify({
        url: 'http://127.0.0.1:1',
        s3Endpoint,
        dynamoEndpoint,
        table: env.tableName,
        bucket: env.bucketName,
        keyPrefix: 'uploads/',
        pid: 1,
      }),
    );
    try {
      const run = await cli(['--json', 'sessions', 'list', '--state-file', file]);

      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as { id: string }[]).map((entry) => entry.id)).toEqual([id]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('cancels, sweeps and shows with exit codes: 0 done, 1 not found, 2 usage', async () => {
    const id = await startUpload('/admin/cli-cancel.bin', 2 * MiB, 20 * MiB);

    const cancelled = await cli(['--json', 'sessions', 'cancel', id, ...target()]);
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toEqual({ id, outcome: 'cancelled' });
    expect(await holdings(id)).toMatchObject({ state: 'cancelled', upload: false, staged: 0 });

    const swept = await cli(['sessions', 'sweep', '--dry-run', ...target()]);
    expect(swept).toMatchObject({ code: 0, stdout: expect.stringMatching(/^no open session expired by /) });
    expect((await cli(['sessions', 'sweep', '--grace-seconds', 'soon', ...target()])).code).toBe(2);

    const missing = await cli(['sessions', 'show', '{00000000-0000-4000-8000-000000000000}', ...target()]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('no such session');

    expect((await cli(['sessions', 'show', 'not-an-id', ...target()])).code).toBe(2);
    expect((await cli(['--aws', 'sessions', 'list'])).stderr).toContain('--aws needs --table and --bucket');
    expect((await cli(['sessions', 'list', '--s3-endpoint', 'http://127.0.0.1:1'])).code).toBe(2);
    expect((await cli(['sessions', 'frobnicate'])).code).toBe(2);
  });

  it('runs as the installed bin (admin/bin/bits-admin.cjs)', async () => {
    const id = await startUpload('/admin/bin.bin', 0, 0);
    const bin = path.resolve(__dirname, '../../admin/bin/bits-admin.cjs');

    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [bin, '--json', 'sessions', 'list', ...target()],
        { timeout: 20_000 },
        (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : (child.exitCode ?? -1), stdout, stderr }),
      );
    });

    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { id: string }[]).map((entry) => entry.id)).toEqual([id]);
  });
});
