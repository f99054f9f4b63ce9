import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { uploadFile } from '../../client';
import { type AwsTestEnv, createAwsTestEnv, emulatorEndpoints } from '../helpers/aws-test-env';

const ROOT = join(__dirname, '..', '..');

const MiB = 1024 * 1024;
const FILE_SIZE = 256 * MiB;
/** The [local] acceptance bound on the server process's resident memory. */
const RSS_BOUND = 600 * 1000 * 1000;

/** Writes `size` random bytes to `path` and returns their sha256. */
async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let written = 0; written < size; written += 4 * MiB) {
    const block = randomBytes(Math.min(4 * MiB, size - written));
    hash.update(block);
    if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  return hash.digest('hex');
}

/** Starts `npm start`'s entry in its own process on the test emulators; resolves with its URL. */
function startServerProcess(cwd: string, env: AwsTestEnv): Promise<{ child: ChildProcess; url: string }> {
  const { s3Endpoint, dynamoEndpoint } = emulatorEndpoints();
  // tsx as a loader keeps the server in this one process (its CLI would fork another).
  const loader = pathToFileURL(require.resolve('tsx')).href;
  const args = ['--import', loader, join(ROOT, 'local', 'main.ts'), '--port', '0', '--log-level', 'SILENT'];
  args.push('--s3-endpoint', s3Endpoint, '--dynamo-endpoint', dynamoEndpoint);
  args.push('--table', env.tableName, '--bucket', env.bucketName);
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^/\s]+)/.exec(output);
      if (match?.[1]) resolve({ child, url: match[1] });
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
}

/** Peak resident set size of a process, from the kernel's high-water mark (Linux). */
async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error('no VmHWM in /proc status');
  return Number(kib) * 1024;
}

describe('a 256 MiB upload through the local server', () => {
  let env: AwsTestEnv;
  let server: { child: ChildProcess; url: string };
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bits-large-'));
    env = await createAwsTestEnv('large');
    server = await startServerProcess(dir, env);
  }, 60_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await env?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores it byte-identically with 1 MiB fragments while the server stays under 600 MB RSS', async () => {
    const file = join(dir, 'big.bin');
    const sourceSha = await writeRandomFile(file, FILE_SIZE);
    const started = Date.now();
    const result = await uploadFile({ url: `${server.url}/big/file.bin`, file, fragmentSize: MiB });
    expect(result.bytes).toBe(FILE_SIZE);
    // The server has its own process (the emulators live in jest's main process): this is its memory.
    const peakRss = await peakRssBytes(server.child.pid ?? 0);
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `256 MiB via local server, 1 MiB fragments: ${seconds.toFixed(1)} s ` +
        `(${(256 / seconds).toFixed(1)} MiB/s), peak RSS ${(peakRss / 1e6).toFixed(0)} MB\n`,
    );
    const object = await env.clients.s3.send(
      new GetObjectCommand({ Bucket: env.bucketName, Key: 'uploads/big/file.bin' }),
    );
    const hash = createHash('sha256');
    for await (const chunk of object.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
    expect(hash.digest('hex')).toBe(sourceSha);
    expect(peakRss).toBeLessThan(RSS_BOUND);
  }, 180_000);
});
