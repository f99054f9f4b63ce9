import { PassThrough } from 'node:stream';
import { type CliIo, EXIT, errorJson, exitCodeFor, main } from '../../../client/cli';
import {
  CancelledError,
  NetworkError,
  ProtocolError,
  ServerRefusedError,
  UsageError,
} from '../../../client/errors';
import { describeEvent, plainReporter } from '../../../client/progress';

/** main() in this process: argument handling that needs no server. */

function io(env: Record<string, string> = {}): CliIo & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  return { stdout, stderr, env, out: () => out, err: () => err };
}

const refusal = new ServerRefusedError({
  packetType: 'Fragment',
  status: 500,
  statusText: 'Internal Server Error',
  hresult: 0x80200020,
  hresultName: 'BG_E_TOO_LARGE',
  hresultFrom: 'server',
  context: 5,
});

describe('main', () => {
  test('--help prints the usage, options and exit codes, and exits 0', async () => {
    const streams = io();
    expect(await main(['--help'], streams)).toBe(EXIT.ok);
    expect(streams.out()).toMatch(/Usage: bits-upload \[options\] \[command\] <file> <url>/);
    for (const option of [
      '--fragment-size',
      '--user',
      '--password',
      '--basic-upfront',
      '--insecure',
      '--json',
      '--retries',
      '--quiet',
      '--reply-file',
    ]) {
      expect(streams.out()).toContain(option);
    }
    expect(streams.out()).toContain('Exit codes: 0 uploaded, 2 usage error, 3 refused by the server');
  });

  test('smoke --help describes the subcommand', async () => {
    const streams = io();
    expect(await main(['smoke', '--help'], streams)).toBe(EXIT.ok);
    expect(streams.out()).toMatch(/Usage: bits-upload smoke \[options\] <url>/);
  });

  test.each([
    [['a.bin', 'http://h/a.bin', '--no-such-option']],
    [['a.bin', 'http://h/a.bin', '--fragment-size', 'big']],
    [['a.bin', 'http://h/a.bin', '--retries', '-1']],
    [['smoke']],
  ])('exits 2 on usage errors: %j', async (argv) => {
    const streams = io();
    expect(await main(argv, streams)).toBe(EXIT.usage);
    expect(streams.err()).not.toBe('');
  });

  test('--reply-file into a directory that does not exist is a usage error', async () => {
    const streams = io();
    expect(
      await main([__filename, 'http://h/a.bin', '--reply-file', '/nonexistent-dir/r.bin'], streams),
    ).toBe(EXIT.usage);
    expect(streams.err()).toMatch(/cannot write the reply file/);
  });

  test('a user without a password (from the environment too) is a usage error', async () => {
    const streams = io({ BITS_UPLOAD_USER: 'alice' });
    expect(await main(['a.bin', 'http://h/a.bin', '--json'], streams)).toBe(EXIT.usage);
    expect(JSON.parse(streams.out())).toEqual({
      ok: false,
      exitCode: 2,
      error: { type: 'UsageError', message: expect.stringMatching(/needs both a user and a password/) },
    });
  });
});

test('exit codes follow the error kinds', () => {
  expect(exitCodeFor(new UsageError('x'))).toBe(2);
  expect(exitCodeFor(refusal)).toBe(3);
  expect(exitCodeFor(new ProtocolError('Ping', 200, 'x'))).toBe(3);
  expect(exitCodeFor(new NetworkError('x'))).toBe(4);
  expect(exitCodeFor(new CancelledError('x'))).toBe(130);
  expect(exitCodeFor(new TypeError('bug'))).toBe(1);
});

test('--json errors carry the BITS code in 0x form and the cause of a give-up', () => {
  expect(errorJson(new NetworkError('gave up', { cause: refusal }))).toEqual({
    type: 'NetworkError',
    message: 'gave up',
    code: null,
    cause: {
      type: 'ServerRefusedError',
      message: refusal.message,
      packetType: 'Fragment',
      status: 500,
      hresult: '0x80200020',
      hresultName: 'BG_E_TOO_LARGE',
      hresultFrom: 'server',
      context: '0x5',
    },
  });
});

test('plain logs are whole lines: no carriage returns or escape codes', () => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const reporter = plainReporter(stream);
  for (const bytesAcked of [0, 100, 300, 600, 1000]) {
    reporter.progress({ bytesAcked, totalBytes: 1000, fragmentSize: 100, elapsedMs: 1 });
  }
  reporter.event({
    type: 'retry',
    packetType: 'Fragment',
    attempt: 1,
    retries: 5,
    delayMs: 1200,
    reason: 'ECONNRESET',
  });
  reporter.event({ type: 'packet', packetType: 'Ping', url: 'http://h/a', rttMs: 1, status: 200 });
  expect(text).toBe(
    [
      'bits-upload: 25% (300 B of 1000 B)',
      'bits-upload: 50% (600 B of 1000 B)',
      'bits-upload: 100% (1000 B of 1000 B)',
      'bits-upload: Fragment failed (ECONNRESET); retry 1/5 in 1.2 s',
      '',
    ].join('\n'),
  );
});

test('every event but per-packet ones has a log line', () => {
  expect(describeEvent({ type: 'shrink', fragmentSize: 5120 })).toBe(
    'server wants smaller fragments: now 5.0 KiB',
  );
  expect(describeEvent({ type: 'resync', expected: 200, received: 100, status: 416 })).toBe(
    'server holds 100 bytes (expected 200): continuing from there',
  );
  expect(describeEvent({ type: 'reply', url: 'http://h/r', bytes: 4096, totalBytes: 10_240 })).toBe(
    'reply: 4.0 KiB of 10.0 KiB from http://h/r',
  );
  expect(describeEvent({ type: 'packet', packetType: 'Ping', url: 'u', rttMs: 1 })).toBeUndefined();
});
