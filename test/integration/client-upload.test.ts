import fc from 'fast-check';
import { CancelledError, NetworkError, ServerRefusedError } from '../../client/errors';
import { uploadFile } from '../../client/upload';
import { generateSelfSignedCertificate } from '../../local/http/self-signed';
import { makeTestBed, type TestBed } from '../helpers/test-deps';
import {
  type RecordingFront,
  scratchDir,
  sha256,
  startDroppingProxy,
  startRecordingFront,
  summary,
  viaHandler,
} from '../unit/client/servers';

/** The client against the real handler (in-memory ports) behind the local HTTP/1.1 front. */

const MiB = 1024 * 1024;
const FAST_RETRY = { retries: 3, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 5000 };

let files: Awaited<ReturnType<typeof scratchDir>>;
let bed: TestBed;
let server: RecordingFront;

beforeAll(async () => {
  files = await scratchDir();
});
afterAll(() => files.dispose());

async function serve(overrides: Parameters<typeof makeTestBed>[0] = {}): Promise<void> {
  bed = makeTestBed(overrides);
  server = await startRecordingFront(viaHandler(bed.handler), undefined, {
    maxBodyBytes: 20 * MiB,
  });
}

afterEach(() => server?.close());

const stored = (name: string): Buffer | undefined => bed.uploads.objects.get(`uploads/${name}`)?.body;

describe('uploads through the real handler', () => {
  beforeEach(() => serve({ maxFragmentSize: String(16 * MiB) }));

  test.each([
    ['0 B', 0],
    ['1 B', 1],
    ['5 KB', 5 * 1024],
    ['13 MiB', 13 * MiB],
  ])('stores a %s file byte for byte', async (_label, size) => {
    const { path, data } = await files.random(`f-${size}.bin`, size);

    const result = await uploadFile({
      url: `${server.url}/up/f-${size}.bin`,
      file: path,
      fragmentSize: 4 * MiB,
    });

    expect(sha256(stored(`up/f-${size}.bin`) ?? Buffer.alloc(1))).toBe(sha256(data));
    expect(result).toMatchObject({ bytes: size, bytesSent: size, retries: 0, restarts: 0 });
    expect(result.sessionId).toMatch(/^\{[0-9A-F-]{36}\}$/);
    expect(result.protocol).toBe('{7df0354d-249b-430f-820d-3d2a9bef4931}');
    expect(result.fragments).toBe(Math.ceil(size / (4 * MiB)));
  });

  test('sends an empty file as Create-Session then Close-Session, with no Fragment', async () => {
    const path = await files.file('empty.bin', Buffer.alloc(0));

    await uploadFile({ url: `${server.url}/up/empty.bin`, file: path });

    expect(server.packets.map(summary)).toEqual(['Create-Session', 'Close-Session']);
    expect(stored('up/empty.bin')?.length).toBe(0);
  });

  test('sends what Windows sends: BITS_POST, the protocol GUID, Content-Name on Fragment and Close', async () => {
    const { path } = await files.random('shape.bin', 12 * 1024);

    await uploadFile({ url: `${server.url}/up/shape.bin`, file: path, fragmentSize: 5 * 1024, ping: true });

    expect(server.packets.map(summary)).toEqual([
      'Ping',
      'Create-Session',
      'Fragment 0-5119/12288',
      'Fragment 5120-10239/12288',
      'Fragment 10240-12287/12288',
      'Close-Session',
    ]);
    expect(server.packets.every((packet) => packet.method === 'BITS_POST')).toBe(true);
    const [, create, fragment, , , close] = server.packets;
    expect(create?.contentName).toBeUndefined();
    expect(fragment?.contentName).toBe('shape.bin');
    expect(close?.contentName).toBe('shape.bin');
    expect(close?.sessionId).toBe(fragment?.sessionId);
  });

  test('stores files of random sizes in random fragment sizes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 5 * 1024, max: 64 * 1024 }),
        async (size, fragmentSize) => {
          const name = `random-${size}-${fragmentSize}.bin`;
          const { path, data } = await files.random(name, size);
          const result = await uploadFile({ url: `${server.url}/up/${name}`, file: path, fragmentSize });
          expect(sha256(stored(`up/${name}`) ?? Buffer.alloc(1))).toBe(sha256(data));
          expect(result.bytesSent).toBe(size);
        },
      ),
      { numRuns: 8 },
    );
  });

  test('reports an existing destination as E_ACCESSDENIED, not retried', async () => {
    const path = await files.file('twice.bin', Buffer.from('first'));
    await uploadFile({ url: `${server.url}/up/twice.bin`, file: path });
    server.packets.length = 0;

    const failure = uploadFile({ url: `${server.url}/up/twice.bin`, file: path, retry: FAST_RETRY });

    await expect(failure).rejects.toBeInstanceOf(ServerRefusedError);
    await expect(failure).rejects.toMatchObject({
      status: 403,
      hresult: 0x80070005,
      hresultName: 'E_ACCESSDENIED',
      hresultFrom: 'server',
      context: 5,
      packetType: 'Create-Session',
    });
    expect(server.packets.map(summary)).toEqual(['Create-Session']);
  });

  test('cancels the session when the user aborts mid-upload, and rejects with CancelledError', async () => {
    const { path } = await files.random('abort.bin', 64 * 1024);
    const controller = new AbortController();

    const failure = uploadFile({
      url: `${server.url}/up/abort.bin`,
      file: path,
      fragmentSize: 16 * 1024,
      signal: controller.signal,
      onProgress: ({ bytesAcked }) => {
        if (bytesAcked >= 16 * 1024) controller.abort();
      },
    });

    await expect(failure).rejects.toBeInstanceOf(CancelledError);
    expect(server.packets.map(summary)).toEqual([
      'Create-Session',
      'Fragment 0-16383/65536',
      'Cancel-Session',
    ]);
    expect(stored('up/abort.bin')).toBeUndefined();
    expect(bed.uploads.uploads.size).toBe(0);
  });
});

describe('fragment size limits of the real handler', () => {
  test('shrinks 13 MiB fragments until the default 4.4 MiB server limit accepts them', async () => {
    await serve();
    const { path, data } = await files.random('shrink.bin', 13 * MiB);

    const result = await uploadFile({
      url: `${server.url}/up/shrink.bin`,
      file: path,
      fragmentSize: 13 * MiB,
    });

    expect(sha256(stored('up/shrink.bin') ?? Buffer.alloc(1))).toBe(sha256(data));
    // 13 MiB → 413, 6.5 MiB → 413, 3.25 MiB fits.
    expect(result.fragmentSize).toBe(Math.floor((13 * MiB) / 4));
    expect(server.packets.slice(1, 4).map(summary)).toEqual([
      `Fragment 0-${13 * MiB - 1}/${13 * MiB}`,
      `Fragment 0-${6.5 * MiB - 1}/${13 * MiB}`,
      `Fragment 0-${3.25 * MiB - 1}/${13 * MiB}`,
    ]);
  });

  test('stops at BG_E_TOO_LARGE (500) without retrying, and cancels the session', async () => {
    await serve({ maxUploadSize: '1000' });
    const { path } = await files.random('big.bin', 2000);

    const failure = uploadFile({ url: `${server.url}/up/big.bin`, file: path, retry: FAST_RETRY });

    await expect(failure).rejects.toMatchObject({
      status: 500,
      hresult: 0x80200020,
      hresultName: 'BG_E_TOO_LARGE',
    });
    expect(server.packets.map(summary)).toEqual(['Create-Session', 'Fragment 0-1999/2000', 'Cancel-Session']);
  });
});

describe('recovery against the real handler', () => {
  test('restarts from offset 0 with a new session when the server lost the session', async () => {
    await serve();
    const { path, data } = await files.random('lost.bin', 40 * 1024);
    const timeout = bed.deps.config.sessionTimeoutSeconds;

    const result = await uploadFile({
      url: `${server.url}/up/lost.bin`,
      file: path,
      fragmentSize: 10 * 1024,
      onProgress: ({ bytesAcked }) => {
        // The session expires after the second fragment of the first session only.
        if (bytesAcked === 20 * 1024 && server.packets.length === 3) bed.clock.advance(timeout + 1);
      },
    });

    expect(sha256(stored('up/lost.bin') ?? Buffer.alloc(1))).toBe(sha256(data));
    expect(result.restarts).toBe(1);
    const sequence = server.packets.map(summary);
    expect(sequence.slice(0, 5)).toEqual([
      'Create-Session',
      'Fragment 0-10239/40960',
      'Fragment 10240-20479/40960',
      'Fragment 20480-30719/40960',
      'Create-Session',
    ]);
    expect(sequence[5]).toBe('Fragment 0-10239/40960');
    expect(server.packets[4]?.sessionId).toBeUndefined();
    expect(server.packets[5]?.sessionId).not.toBe(server.packets[1]?.sessionId);
  });

  test('resumes a lost Fragment Ack with Ping then the same fragment; the server holds each byte once', async () => {
    await serve();
    let dropped = 0;
    const proxy = await startDroppingProxy(server.front.port, (head) => {
      // Lose the answer to the second fragment, once.
      if (dropped === 0 && /content-range: bytes 8192-16383\//i.test(head)) {
        dropped++;
        return true;
      }
      return false;
    });
    try {
      const { path, data } = await files.random('lost-ack.bin', 24 * 1024);
      // What the store writes for this file when nothing goes wrong, to compare with below.
      await uploadFile({ url: `${server.url}/up/control.bin`, file: path, fragmentSize: 8 * 1024 });
      const controlWrites = bed.uploads.bytesWritten;
      server.packets.length = 0;

      const result = await uploadFile({
        url: `${proxy.url}/up/lost-ack.bin`,
        file: path,
        fragmentSize: 8 * 1024,
        retry: FAST_RETRY,
      });

      expect(server.packets.map(summary)).toEqual([
        'Create-Session',
        'Fragment 0-8191/24576',
        'Fragment 8192-16383/24576',
        'Ping',
        'Fragment 8192-16383/24576',
        'Fragment 16384-24575/24576',
        'Close-Session',
      ]);
      expect(stored('up/lost-ack.bin')?.equals(data)).toBe(true);
      expect(bed.uploads.bytesWritten - controlWrites).toBe(controlWrites);
      expect(result).toMatchObject({ retries: 1, bytesSent: 32 * 1024, fragments: 4 });
      // Keep-alive: one connection until the loss, one after it.
      expect(proxy.connections()).toBe(2);
    } finally {
      await proxy.close();
    }
  });
});

describe('HTTPS', () => {
  const certificate = generateSelfSignedCertificate();

  test('uploads to a self-signed server only when told to accept its certificate', async () => {
    bed = makeTestBed();
    server = await startRecordingFront(viaHandler(bed.handler), undefined, { tls: certificate });
    const { path, data } = await files.random('tls.bin', 9000);

    const refused = uploadFile({ url: `${server.url}/up/tls.bin`, file: path, retry: FAST_RETRY });
    await expect(refused).rejects.toBeInstanceOf(NetworkError);
    await expect(refused).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', retryable: false });

    await uploadFile({ url: `${server.url}/up/tls.bin`, file: path, insecure: true });
    expect(stored('up/tls.bin')?.equals(data)).toBe(true);
  });
});
