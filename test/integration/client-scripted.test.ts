import { CancelledError, NetworkError, ProtocolError, ServerRefusedError } from '../../client/errors';
import type { UploadEvent } from '../../client/events';
import { type UploadOptions, uploadFile } from '../../client/upload';
import type { FrontRequest } from '../../local/http/server';
import {
  ack,
  closedPort,
  errorAck,
  FakeBitsServer,
  type Interceptor,
  type RecordingFront,
  scratchDir,
  startRecordingFront,
  summary,
} from '../unit/client/servers';

/**
 * The client against a scripted misbehaving server: an in-memory BITS server whose answers a
 * test overrides per request; assertions are on what the client sent.
 */

const FAST_RETRY = { retries: 2, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 5000 };
const E_FAIL = 0x80004005;
const BG_E_SESSION_NOT_FOUND = 0x8020001f;
const BG_E_TOO_LARGE = 0x80200020;
const KiB = 1024;

let files: Awaited<ReturnType<typeof scratchDir>>;
let fake: FakeBitsServer;
let server: RecordingFront;
const fronts: RecordingFront[] = [];

beforeAll(async () => {
  files = await scratchDir();
});
afterAll(() => files.dispose());
afterEach(async () => {
  await Promise.all(fronts.splice(0).map((front) => front.close()));
});

async function serve(interceptor?: Interceptor): Promise<RecordingFront> {
  fake = new FakeBitsServer();
  server = await startRecordingFront(fake.answer, interceptor);
  fronts.push(server);
  return server;
}

const packetType = (request: FrontRequest): string =>
  request.headers['bits-packet-type']?.toLowerCase() ?? '';
const isFragment = (request: FrontRequest): boolean => packetType(request) === 'fragment';

/** Uploads a random file of `size` bytes to the scripted server. */
async function upload(size: number, options: Partial<UploadOptions> = {}) {
  const { path, data } = await files.random(`f-${size}.bin`, size);
  const events: UploadEvent[] = [];
  const run = uploadFile({
    url: `${server.url}/up/file.bin`,
    file: path,
    fragmentSize: 8 * KiB,
    retry: FAST_RETRY,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { run, data, events };
}

describe('416 and offsets: the client goes wherever BITS-Received-Content-Range says', () => {
  test('jumps forward past bytes the server already holds', async () => {
    let file: Buffer = Buffer.alloc(0);
    await serve((request) => {
      if (isFragment(request) && fake.last.data.length === 0) {
        // As if an earlier connection had delivered the first 20 KiB.
        fake.last.data = Buffer.from(file.subarray(0, 20 * KiB));
        return ack(416, { 'BITS-Received-Content-Range': 20 * KiB });
      }
      return undefined;
    });
    const { run, data, events } = await upload(32 * KiB);
    file = data;

    const result = await run;

    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Fragment 0-8191/32768',
      'Fragment 20480-28671/32768',
      'Fragment 28672-32767/32768',
      'Close-Session',
    ]);
    expect(fake.last.data.equals(data)).toBe(true);
    expect(result.bytesSent).toBe(20 * KiB);
    expect(events).toContainEqual({ type: 'resync', expected: 8 * KiB, received: 20 * KiB, status: 416 });
  });

  test('goes back and resends when the server says it holds less than was sent', async () => {
    let forgotten = false;
    await serve((request) => {
      if (!forgotten && request.headers['content-range']?.startsWith('bytes 16384-')) {
        forgotten = true;
        fake.last.data = fake.last.data.subarray(0, 4 * KiB);
        return ack(416, { 'BITS-Received-Content-Range': 4 * KiB });
      }
      return undefined;
    });
    const { run, data } = await upload(24 * KiB);

    await run;

    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Fragment 0-8191/24576',
      'Fragment 8192-16383/24576',
      'Fragment 16384-24575/24576',
      'Fragment 4096-12287/24576',
      'Fragment 12288-20479/24576',
      'Fragment 20480-24575/24576',
      'Close-Session',
    ]);
    expect(fake.last.data.equals(data)).toBe(true);
  });

  test('fails with a protocol error when a Fragment Ack has no BITS-Received-Content-Range', async () => {
    await serve((request) => (isFragment(request) ? ack(200) : undefined));
    const { run } = await upload(10 * KiB);

    await expect(run).rejects.toBeInstanceOf(ProtocolError);
    await expect(run).rejects.toThrow(/no BITS-Received-Content-Range/);
  });

  test('fails when the offset is beyond the file', async () => {
    await serve((request) =>
      isFragment(request) ? ack(200, { 'BITS-Received-Content-Range': 999_999 }) : undefined,
    );
    const { run } = await upload(10 * KiB);

    await expect(run).rejects.toThrow(/unusable BITS-Received-Content-Range: "999999" for a 10240-byte file/);
  });

  test('gives up on a server that keeps taking none of the bytes', async () => {
    await serve((request) =>
      isFragment(request) ? ack(416, { 'BITS-Received-Content-Range': 0 }) : undefined,
    );
    const { run } = await upload(10 * KiB);

    await expect(run).rejects.toThrow(/offset 0 5 times in a row/);
    expect(server.packets.filter((packet) => packet.packetType === 'Fragment')).toHaveLength(5);
  });

  test('records BITS-Reply-URL from the final Ack, resolved like IIS paths', async () => {
    await serve(async (request) => {
      if (!isFragment(request)) return undefined;
      const answer = await fake.answer(request);
      return answer.headers['BITS-Received-Content-Range'] === String(10 * KiB)
        ? {
            ...answer,
            headers: { ...answer.headers, 'BITS-Reply-URL': 'BITS-Sessions\\Replies\\{A}\\responsefile.bin' },
          }
        : answer;
    });
    const { run } = await upload(10 * KiB);

    const result = await run;

    expect(result.replyUrl).toBe(`${server.url}/up/BITS-Sessions/Replies/%7BA%7D/responsefile.bin`);
  });
});

describe('413: halve the fragment, never below 5 KB', () => {
  test('shrinks 40000 → 20000 → 10000 → 5120, then fails clearly and cancels', async () => {
    await serve((request) => (isFragment(request) ? errorAck(413, BG_E_TOO_LARGE) : undefined));
    const { run } = await upload(64 * KiB, { fragmentSize: 40_000 });

    await expect(run).rejects.toBeInstanceOf(ServerRefusedError);
    await expect(run).rejects.toThrow(/refuses even 5120-byte fragments/);
    await expect(run).rejects.toMatchObject({ status: 413, hresultName: 'BG_E_TOO_LARGE' });
    const fragments = server.packets.filter((packet) => packet.packetType === 'Fragment');
    expect(fragments.map((packet) => packet.bodyLength)).toEqual([40_000, 20_000, 10_000, 5120]);
    expect(server.packets.at(-1)?.packetType).toBe('Cancel-Session');
  });

  test('also shrinks on a plain 413 from a front (no BITS headers) and keeps the smaller size', async () => {
    await serve((request) =>
      isFragment(request) && request.body.length > 13_000 ? { statusCode: 413, headers: {} } : undefined,
    );
    const { run, data } = await upload(60_000, { fragmentSize: 50_000 });

    const result = await run;

    expect(result.fragmentSize).toBe(12_500);
    expect(fake.last.data.equals(data)).toBe(true);
    expect(server.packets.map((packet) => packet.bodyLength).filter((n) => n > 0)).toEqual([
      50_000, 25_000, 12_500, 12_500, 12_500, 12_500, 10_000,
    ]);
  });
});

describe('BG_E_SESSION_NOT_FOUND: start over, a bounded number of times', () => {
  test('creates a new session for each loss, then reports the error', async () => {
    await serve((request) => (isFragment(request) ? errorAck(500, BG_E_SESSION_NOT_FOUND) : undefined));
    const { run, events } = await upload(10 * KiB, { maxSessionRestarts: 2 });

    await expect(run).rejects.toMatchObject({
      hresult: BG_E_SESSION_NOT_FOUND,
      hresultName: 'BG_E_SESSION_NOT_FOUND',
    });
    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Fragment 0-8191/10240',
      'Create-Session',
      'Fragment 0-8191/10240',
      'Create-Session',
      'Fragment 0-8191/10240',
    ]);
    expect(events.filter((event) => event.type === 'restart')).toHaveLength(2);
  });
});

describe('transient failures: retry with backoff, Ping first, bounded', () => {
  test('retries a 503 Fragment after a Ping and then succeeds', async () => {
    let failures = 0;
    await serve((request) => (isFragment(request) && failures++ < 2 ? errorAck(503, E_FAIL) : undefined));
    const { run, data } = await upload(10 * KiB);

    const result = await run;

    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Fragment 0-8191/10240',
      'Ping',
      'Fragment 0-8191/10240',
      'Ping',
      'Fragment 0-8191/10240',
      'Fragment 8192-10239/10240',
      'Close-Session',
    ]);
    expect(result.retries).toBe(2);
    expect(fake.last.data.equals(data)).toBe(true);
  });

  test('gives up after the retry count with the last answer as the cause, then cancels', async () => {
    await serve((request) => (isFragment(request) ? errorAck(503, E_FAIL) : undefined));
    const { run } = await upload(10 * KiB);

    const error: unknown = await run.catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).message).toMatch(/gave up on Fragment after 2 retries/);
    expect((error as NetworkError).cause).toMatchObject({ status: 503, hresultName: 'E_FAIL' });
    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Fragment 0-8191/10240',
      'Ping',
      'Fragment 0-8191/10240',
      'Ping',
      'Fragment 0-8191/10240',
      'Cancel-Session',
    ]);
  });

  test('gives up on an unreachable server within the time bound', async () => {
    const port = await closedPort();
    const { path } = await files.random('unreachable.bin', 100);
    const started = Date.now();

    const run = uploadFile({
      url: `http://127.0.0.1:${port}/up/file.bin`,
      file: path,
      retry: { retries: 1000, baseDelayMs: 10, maxDelayMs: 40, maxElapsedMs: 300 },
    });

    await expect(run).rejects.toThrow(/gave up on Create-Session after \d+ retries .*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('retries Close-Session on 5xx and treats 408 and 429 as transient', async () => {
    const failOnce = new Set(['create-session', 'close-session']);
    await serve((request) => {
      const type = packetType(request);
      if (!failOnce.delete(type)) return undefined;
      return type === 'create-session'
        ? { statusCode: 429, headers: { 'Retry-After': '0' } }
        : errorAck(502, E_FAIL);
    });
    const { run } = await upload(5 * KiB);

    const result = await run;

    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Ping',
      'Create-Session',
      'Fragment 0-5119/5120',
      'Close-Session',
      'Ping',
      'Close-Session',
    ]);
    expect(result.retries).toBe(2);
  });

  test('reports a 4xx without BITS headers as fatal, named the way Windows names it', async () => {
    await serve(() => ({ statusCode: 404, headers: {}, body: Buffer.from('{"message":"Not Found"}') }));
    const { run } = await upload(5 * KiB);

    await expect(run).rejects.toMatchObject({
      status: 404,
      hresult: 0x80190194,
      hresultName: 'BG_E_HTTP_ERROR_404',
      hresultFrom: 'http-status',
      bodyExcerpt: '{"message":"Not Found"}',
    });
    expect(server.packets).toHaveLength(1);
  });
});

describe('401: Basic credentials, sent once after the challenge or up front', () => {
  const credentials = { user: 'alice', password: 'sesame' };
  const expected = `Basic ${Buffer.from('alice:sesame').toString('base64')}`;
  const challenge =
    (scheme = 'Basic realm="bits"'): Interceptor =>
    (request) =>
      request.headers.authorization === expected
        ? undefined
        : { statusCode: 401, headers: { 'WWW-Authenticate': scheme } };

  test('resends the challenged packet with credentials, then sends them on every packet', async () => {
    await serve(challenge('Negotiate, Basic realm="bits"'));
    const { run, events } = await upload(10 * KiB, { credentials });

    await run;

    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Create-Session',
      'Fragment 0-8191/10240',
      'Fragment 8192-10239/10240',
      'Close-Session',
    ]);
    expect(server.packets.map((packet) => packet.authorization)).toEqual([
      undefined,
      expected,
      expected,
      expected,
      expected,
    ]);
    expect(events).toContainEqual({ type: 'auth', scheme: 'Basic' });
  });

  test('sends credentials from the first packet with basicUpfront', async () => {
    await serve(challenge());
    const { run } = await upload(1, { credentials, basicUpfront: true });

    await run;

    expect(server.packets.every((packet) => packet.authorization === expected)).toBe(true);
  });

  test('stops after one resend when the credentials are refused', async () => {
    await serve(challenge());
    const { run } = await upload(1, { credentials: { user: 'alice', password: 'wrong' } });

    await expect(run).rejects.toThrow(/refused the credentials/);
    expect(server.packets).toHaveLength(2);
  });

  test('explains what is missing: credentials, or a scheme this client speaks', async () => {
    await serve(challenge('NTLM'));

    await expect((await upload(1)).run).rejects.toThrow(
      /asks for authentication \(WWW-Authenticate: NTLM\); give --user/,
    );
    await expect((await upload(1, { credentials })).run).rejects.toThrow(
      /offers only NTLM; this client speaks Basic only/,
    );
  });
});

describe('BITS-Host-Id: later packets go to the named host, Pinged first', () => {
  test('sends everything after Create-Session to the Host-Id node', async () => {
    fake = new FakeBitsServer();
    const node = await startRecordingFront(fake.answer);
    fronts.push(node);
    const nodeHost = new URL(node.url).host;
    server = await startRecordingFront(async (request) => {
      const answer = await fake.answer(request);
      return packetType(request) === 'create-session'
        ? { ...answer, headers: { ...answer.headers, 'BITS-Host-Id': nodeHost } }
        : answer;
    });
    fronts.push(server);
    const { run, data } = await upload(10 * KiB);

    const result = await run;

    expect(server.packets.map(summary)).toEqual(['Create-Session']);
    expect(node.packets.map(summary)).toEqual([
      'Ping',
      'Fragment 0-8191/10240',
      'Fragment 8192-10239/10240',
      'Close-Session',
    ]);
    expect(node.packets.every((packet) => packet.host === nodeHost && packet.path === '/up/file.bin')).toBe(
      true,
    );
    expect(result.hostId).toBe(nodeHost);
    expect(fake.last.data.equals(data)).toBe(true);
  });

  test('falls back to the original host when the node stays unreachable past the fallback timeout', async () => {
    const deadHost = `127.0.0.1:${await closedPort()}`;
    await serve(async (request) => {
      if (packetType(request) !== 'create-session') return undefined;
      const answer = await fake.answer(request);
      return {
        ...answer,
        headers: { ...answer.headers, 'BITS-Host-Id': deadHost, 'BITS-Host-Id-Fallback-Timeout': '0' },
      };
    });
    const { run, data, events } = await upload(10 * KiB);

    await run;

    expect(events).toContainEqual({ type: 'host-fallback', url: `${server.url}/up/file.bin` });
    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Ping',
      'Fragment 0-8191/10240',
      'Fragment 8192-10239/10240',
      'Close-Session',
    ]);
    expect(fake.last.data.equals(data)).toBe(true);
  });
});

describe('Create-Session Acks the client cannot use', () => {
  test('an answer that is not a BITS Ack (a front answered itself)', async () => {
    await serve(() => ({
      statusCode: 200,
      headers: { 'Content-Type': 'text/html' },
      body: Buffer.from('<html>'),
    }));

    await expect((await upload(1)).run).rejects.toThrow(/not a BITS Ack/);
  });

  test('a protocol other than BITS 1.5', async () => {
    await serve((request) =>
      packetType(request) === 'create-session'
        ? ack(200, { 'BITS-Protocol': '{11111111-1111-1111-1111-111111111111}', 'BITS-Session-Id': '{S}' })
        : undefined,
    );

    await expect((await upload(1)).run).rejects.toThrow(/BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH 0x80200022/);
    // The session exists on the server, so it is cancelled.
    expect(server.packets.map(summary)).toEqual(['Create-Session', 'Cancel-Session']);
  });
});

describe('cancelling (the caller aborts)', () => {
  /** Aborts once the server acknowledged the first fragment. */
  const abortAfterFirstFragment = (): Partial<UploadOptions> => {
    const controller = new AbortController();
    return {
      signal: controller.signal,
      onProgress: ({ bytesAcked }) => {
        if (bytesAcked > 0) controller.abort();
      },
    };
  };

  test('retries Cancel-Session on 5xx', async () => {
    let failures = 0;
    await serve((request) =>
      packetType(request) === 'cancel-session' && failures++ === 0 ? errorAck(503, E_FAIL) : undefined,
    );
    const { run, events } = await upload(20 * KiB, abortAfterFirstFragment());

    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Fragment 0-8191/20480',
      'Cancel-Session',
      'Cancel-Session',
    ]);
    expect(fake.last.closed).toBe(true);
    expect(events).toContainEqual({ type: 'cancel', acknowledged: true });
  });

  test('does not retry Cancel-Session on BG_E_SESSION_NOT_FOUND, and still rejects as cancelled', async () => {
    await serve((request) =>
      packetType(request) === 'cancel-session' ? errorAck(500, BG_E_SESSION_NOT_FOUND) : undefined,
    );
    const { run, events } = await upload(20 * KiB, abortAfterFirstFragment());

    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(server.packets.map(summary).slice(2)).toEqual(['Cancel-Session']);
    expect(events).toContainEqual(expect.objectContaining({ type: 'cancel', acknowledged: false }));
  });

  test('sends nothing when aborted before the first packet', async () => {
    await serve();
    const { run } = await upload(1, { signal: AbortSignal.abort() });

    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(server.packets).toHaveLength(0);
  });
});
