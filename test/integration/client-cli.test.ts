import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTestBed, type TestBed } from '../helpers/test-deps';
import {
  closedPort,
  errorAck,
  FakeBitsServer,
  type RecordingFront,
  scratchDir,
  sha256,
  startRecordingFront,
  summary,
  viaHandler,
} from '../unit/client/servers';

/**
 * The `bits-upload` bin as users run it: a child process of node (the shim builds the bundle on
 * first use), against the real handler in this process. Few spawns: each costs ~0.2 s.
 */

const BIN = path.resolve(__dirname, '../../client/bin/bits-upload.cjs');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Asynchronous on purpose: the server answering the child lives in this process's event loop. */
function bitsUpload(args: readonly string[], onSpawn?: (child: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve) => {
    // Credentials in the developer's environment must not change what the tests see.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('BITS_UPLOAD_')),
    );
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env, timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : (child.exitCode ?? null), stdout, stderr });
      },
    );
    onSpawn?.(child);
  });
}

let files: Awaited<ReturnType<typeof scratchDir>>;
let bed: TestBed;
let server: RecordingFront;
let onFragment: (() => Promise<void>) | undefined;

beforeAll(async () => {
  files = await scratchDir();
  bed = makeTestBed({ maxUploadSize: String(1024 * 1024) });
  server = await startRecordingFront(viaHandler(bed.handler), async (request) => {
    if (request.headers['bits-packet-type'] === 'Fragment') await onFragment?.();
    return undefined;
  });
});
afterAll(async () => {
  await server.close();
  await files.dispose();
});
beforeEach(() => {
  server.packets.length = 0;
  onFragment = undefined;
});

test('uploads with --json: exit 0 and one JSON summary on stdout', async () => {
  const { path: file, data } = await files.random('cli.bin', 50_000);

  const run = await bitsUpload([file, `${server.url}/up/cli.bin`, '--json', '--fragment-size', '16KiB']);

  expect(run).toMatchObject({ code: 0, stderr: '' });
  const summaryJson: unknown = JSON.parse(run.stdout);
  expect(summaryJson).toEqual({
    ok: true,
    file,
    url: `${server.url}/up/cli.bin`,
    sessionId: expect.stringMatching(/^\{[0-9A-F-]{36}\}$/),
    protocol: '{7df0354d-249b-430f-820d-3d2a9bef4931}',
    bytes: 50_000,
    bytesSent: 50_000,
    fragments: 4,
    fragmentSize: 16 * 1024,
    retries: 0,
    restarts: 0,
    elapsedMs: expect.any(Number),
    bytesPerSecond: expect.anything(),
  });
  expect(sha256(bed.uploads.objects.get('uploads/up/cli.bin')?.body ?? Buffer.alloc(1))).toBe(sha256(data));
});

test('prints plain logs and no progress-bar control characters when stderr is not a terminal', async () => {
  const { path: file } = await files.random('plain.bin', 40_000);

  const run = await bitsUpload([file, `${server.url}/up/plain.bin`, '--fragment-size', '10000']);

  expect(run.code).toBe(0);
  expect(run.stderr).toContain('bits-upload: 100% (39.1 KiB of 39.1 KiB)');
  expect(run.stdout).toMatch(/^uploaded 39\.1 KiB in .*: session \{[0-9A-F-]+\}, 4 fragments, 0 retries\n$/);
  const output = `${run.stdout}${run.stderr}`;
  expect(output.includes('\u001b')).toBe(false); // ESC: cursor moves, colours, hidden cursor
  expect(output.includes('\r')).toBe(false); // redraws of the same line
});

test('exits 3 on a server refusal and names the BITS error code', async () => {
  const { path: file } = await files.random('too-big.bin', 1024 * 1024 + 1);

  const run = await bitsUpload([file, `${server.url}/up/too-big.bin`, '--json']);

  expect(run.code).toBe(3);
  expect(run.stderr).toMatch(/500 .*BITS error 0x80200020 BG_E_TOO_LARGE \(context 0x5: BITS server\)/);
  expect(JSON.parse(run.stdout)).toMatchObject({
    ok: false,
    exitCode: 3,
    error: { type: 'ServerRefusedError', status: 500, hresult: '0x80200020', hresultName: 'BG_E_TOO_LARGE' },
  });
});

test('exits 4 when nothing listens, after the retries asked for', async () => {
  const { path: file } = await files.random('nowhere.bin', 10);

  const run = await bitsUpload([file, `http://127.0.0.1:${await closedPort()}/up/x.bin`, '--retries', '0']);

  expect(run.code).toBe(4);
  expect(run.stderr).toMatch(/gave up on Create-Session after 0 retries .*ECONNREFUSED/);
});

test('exits 2 on a usage error, before any packet', async () => {
  const { path: file } = await files.random('usage.bin', 10);

  const tooSmall = await bitsUpload([file, `${server.url}/up/usage.bin`, '--fragment-size', '1KiB']);
  const missing = await bitsUpload([file]);

  expect(tooSmall.code).toBe(2);
  expect(tooSmall.stderr).toMatch(/fragment size must be .* from 5120/);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/missing required argument 'url'/);
  expect(server.packets).toHaveLength(0);
});

test('Ctrl-C sends Cancel-Session and exits 130', async () => {
  const { path: file } = await files.random('interrupted.bin', 200_000);
  let child: ChildProcess | undefined;
  onFragment = async () => {
    if (server.packets.filter((packet) => packet.packetType === 'Fragment').length === 2) {
      child?.kill('SIGINT');
      await sleep(100); // the client gives up on this answer and cancels
    }
  };

  const run = await bitsUpload(
    [file, `${server.url}/up/interrupted.bin`, '--fragment-size', '16KiB'],
    (spawned) => {
      child = spawned;
    },
  );

  expect(run.code).toBe(130);
  expect(server.packets.map(summary).at(-1)).toBe('Cancel-Session');
  expect(run.stderr).toContain('Cancel-Session acknowledged');
  expect(bed.uploads.objects.has('uploads/up/interrupted.bin')).toBe(false);
});

describe('--reply-file: upload-reply jobs', () => {
  /** A scripted upload-reply server (the real handler's reply support is tested on the server side). */
  async function replyServer(reply: Buffer, failFinal?: () => boolean): Promise<RecordingFront> {
    const fake = new FakeBitsServer({ reply: { data: reply } });
    const front = await startRecordingFront(fake.answer, (request) =>
      failFinal?.() === true && request.headers['content-range']?.endsWith('/30000') === true
        ? errorAck(403, 0x80190193, { 'BITS-Error-Context': '0x7' })
        : undefined,
    );
    return front;
  }

  test('downloads the reply before Close-Session and --json reports it', async () => {
    const reply = randomBytes(70_000);
    const front = await replyServer(reply);
    const { path: file } = await files.random('with-reply.bin', 30_000);
    const replyFile = `${file}.reply`;

    const run = await bitsUpload([file, `${front.url}/up/r.bin`, '--reply-file', replyFile, '--json']);
    await front.close();

    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toMatchObject({
      ok: true,
      replyUrl: expect.stringMatching(/\/up\/BITS-Sessions\/Replies\/%7B.*%7D\/responsefile\.bin$/),
      reply: { file: replyFile, bytes: 70_000, sha256: sha256(reply), requests: 1, resumes: 0 },
    });
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
    expect(front.packets.map(summary).slice(-2)).toEqual([
      expect.stringMatching(/^GET \/up\/BITS-Sessions\/Replies\/.* bytes=0-4194303$/),
      'Close-Session',
    ]);
  });

  test("prints where the reply went; the application's fatal error exits 3 as an ApplicationError", async () => {
    let fail = false;
    const front = await replyServer(Buffer.from('thanks'), () => fail);
    const { path: file } = await files.random('app.bin', 30_000);

    const plain = await bitsUpload([file, `${front.url}/up/r.bin`, '--reply-file', `${file}.reply`]);
    fail = true;
    const refused = await bitsUpload([
      file,
      `${front.url}/up/r.bin`,
      '--reply-file',
      `${file}.refused`,
      '--json',
    ]);
    await front.close();

    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(
      `reply: 6 B written to ${file}.reply (sha256 ${sha256(Buffer.from('thanks'))})`,
    );
    expect(plain.stderr).toMatch(
      /bits-upload: reply: 6 B of 6 B from http:\/\/127\.0\.0\.1:\d+\/up\/BITS-Sessions/,
    );
    expect(refused.code).toBe(3);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      ok: false,
      exitCode: 3,
      error: { type: 'ApplicationError', status: 403, hresult: '0x80190193', context: '0x7' },
    });
    expect(existsSync(`${file}.refused`)).toBe(false);
  });

  test('a reply file in a missing directory is a usage error (exit 2) before any packet', async () => {
    const { path: file } = await files.random('nodir.bin', 10);

    const run = await bitsUpload([
      file,
      `${server.url}/up/nodir.bin`,
      '--reply-file',
      '/nonexistent-dir/r.bin',
    ]);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot write the reply file \/nonexistent-dir\/r\.bin: no directory/);
    expect(server.packets).toHaveLength(0);
  });
});

test('smoke --json: the Ping passes, a tiny upload lands under the URL, every packet timed', async () => {
  const run = await bitsUpload(['smoke', `${server.url}/up/smoke/`, '--json']);

  expect(run.code).toBe(0);
  const report = JSON.parse(run.stdout) as { url: string; packets: { packetType: string }[] };
  expect(report).toMatchObject({
    ok: true,
    passesBitsPost: true,
    protocol: '{7df0354d-249b-430f-820d-3d2a9bef4931}',
    exitCode: 0,
    error: null,
  });
  expect(report.packets.map((packet) => packet.packetType)).toEqual([
    'Ping',
    'Create-Session',
    'Fragment',
    'Close-Session',
  ]);
  expect(report.packets).toContainEqual(expect.objectContaining({ status: 200, rttMs: expect.any(Number) }));
  const key = `uploads${new URL(report.url).pathname}`;
  expect(key).toMatch(/^uploads\/up\/smoke\/bits-smoke-\d{8}T\d{6}Z-[0-9a-f]{6}\.txt$/);
  expect(bed.uploads.objects.get(key)?.body.toString()).toMatch(/^bits-upload smoke test /);
});
