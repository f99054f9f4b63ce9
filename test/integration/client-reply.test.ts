import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationError, NetworkError, ProtocolError, ServerRefusedError } from '../../client/errors';
import type { UploadEvent } from '../../client/events';
import { formatHresult } from '../../client/hresult';
import { type UploadOptions, uploadFile } from '../../client/upload';
import type { FrontRequest, FrontResponse } from '../../local/http/server';
import {
  errorAck,
  FakeBitsServer,
  type Interceptor,
  type RecordingFront,
  scratchDir,
  serveRange,
  sha256,
  startCuttingProxy,
  startDroppingProxy,
  startRecordingFront,
  summary,
} from '../unit/client/servers';

/**
 * Upload-reply jobs (bits-protocol.md §3.3, §7) against scripted servers: the reply named by
 * BITS-Reply-URL on the final Fragment Ack is downloaded with Range GETs, resumed after broken
 * connections, renamed into place, and only then is Close-Session sent. Assertions are on what
 * the client sent and what it wrote.
 */

const FAST_RETRY = { retries: 2, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 5000 };
const KiB = 1024;
/** The fake server's first session id, and where its IIS-style reply URL leads (RX-2 spelling). */
const SESSION = '{00000000-0000-4000-8000-000000000001}';
const REPLY_PATH = '/up/BITS-Sessions/Replies/%7B00000000-0000-4000-8000-000000000001%7D/responsefile.bin';
const GET = (range: string): string => `GET ${REPLY_PATH} bytes=${range}`;
const UPLOAD = ['Create-Session', 'Fragment 0-8191/10240', 'Fragment 8192-10239/10240'];

let files: Awaited<ReturnType<typeof scratchDir>>;
let fake: FakeBitsServer;
let server: RecordingFront;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  files = await scratchDir();
});
afterAll(() => files.dispose());
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A BITS server whose final Ack names `reply` (IIS backslash form unless `url` says otherwise). */
async function serve(
  reply: Buffer | undefined,
  interceptor?: Interceptor,
  url?: (sessionId: string) => string,
): Promise<RecordingFront> {
  fake = new FakeBitsServer(
    reply === undefined ? {} : { reply: { data: reply, ...(url === undefined ? {} : { url }) } },
  );
  server = await startRecordingFront(fake.answer, interceptor);
  closers.push(() => server.close());
  return server;
}

const isGet = (request: FrontRequest): boolean => request.method === 'GET';
const isFinalFragment = (request: FrontRequest): boolean =>
  request.headers['content-range']?.startsWith('bytes 8192-10239/') === true;

/** A 10 KiB upload in reply mode to `base` (the scripted server unless a proxy is in between). */
async function uploadWithReply(options: Partial<UploadOptions> & { base?: string } = {}) {
  const { base = server.url, ...rest } = options;
  const dir = await files.random(`u-${randomBytes(4).toString('hex')}.bin`, 10 * KiB);
  const replyFile = path.join(path.dirname(dir.path), `reply-${randomBytes(4).toString('hex')}.bin`);
  const events: UploadEvent[] = [];
  const run = uploadFile({
    url: `${base}/up/file.bin`,
    file: dir.path,
    fragmentSize: 8 * KiB,
    retry: FAST_RETRY,
    reply: { file: replyFile, rangeSize: 8 * KiB },
    onEvent: (event) => events.push(event),
    ...rest,
  });
  return { run, replyFile, events };
}

/** Temporary `.part` files left beside the reply: none after success or failure. */
async function partFiles(replyFile: string): Promise<string[]> {
  const prefix = `.${path.basename(replyFile)}.`;
  return (await readdir(path.dirname(replyFile))).filter((name) => name.startsWith(prefix));
}

describe('the reply is downloaded with Range GETs before Close-Session', () => {
  test('resolves the IIS backslash URL against the upload directory and fetches it in pieces', async () => {
    const reply = randomBytes(20_000);
    await serve(reply);
    const { run, replyFile } = await uploadWithReply();

    const result = await run;

    expect(server.packets.map(summary)).toEqual([
      ...UPLOAD,
      GET('0-8191'),
      GET('8192-16383'),
      GET('16384-19999'),
      'Close-Session',
    ]);
    expect(result.replyUrl).toBe(`${server.url}${REPLY_PATH}`);
    expect(result.reply).toEqual({
      url: `${server.url}${REPLY_PATH}`,
      file: replyFile,
      bytes: 20_000,
      sha256: sha256(reply),
      requests: 3,
      resumes: 0,
    });
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
    expect(await partFiles(replyFile)).toEqual([]);
  });

  test('fetches an absolute reply URL as given', async () => {
    const reply = randomBytes(5000);
    await serve(reply, undefined, (id) => `${server.url}/static/${encodeURIComponent(id)}/responsefile.bin`);
    const { run, replyFile } = await uploadWithReply();

    const result = await run;

    const path = `/static/${encodeURIComponent(SESSION)}/responsefile.bin`;
    expect(server.packets.map(summary)).toEqual([...UPLOAD, `GET ${path} bytes=0-8191`, 'Close-Session']);
    expect(result.reply?.url).toBe(`${server.url}${path}`);
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
  });

  test('keeps a reply URL without fetching it when the job is not upload-reply', async () => {
    await serve(randomBytes(100));
    const { run } = await uploadWithReply({ reply: undefined });

    const result = await run;

    expect(server.packets.map(summary)).toEqual([...UPLOAD, 'Close-Session']);
    expect(result.replyUrl).toBe(`${server.url}${REPLY_PATH}`);
    expect(result.reply).toBeUndefined();
  });

  test('takes the reply URL from the re-Ack of a final Fragment whose Ack was lost', async () => {
    const reply = randomBytes(3000);
    await serve(reply);
    let dropped = false;
    const proxy = await startDroppingProxy(server.front.port, (head) => {
      if (dropped || !/^content-range: bytes 8192-10239\//im.test(head)) return false;
      dropped = true;
      return true;
    });
    closers.push(() => proxy.close());
    const { run, replyFile } = await uploadWithReply({ base: proxy.url });

    await run;

    expect(server.packets.map(summary)).toEqual([
      ...UPLOAD,
      'Ping',
      'Fragment 8192-10239/10240',
      GET('0-8191'),
      'Close-Session',
    ]);
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
  });
});

describe('a broken download continues from the bytes on disk', () => {
  test('a connection dropped mid-body: the next GET starts at the first byte not written', async () => {
    const reply = randomBytes(20_000);
    let replyFile = '';
    // What is on disk when the resuming GET arrives: only the temporary file, with the 3000 bytes.
    const onDisk: { target: boolean; parts: { name: string; size: number }[] }[] = [];
    await serve(reply, async (request) => {
      if (request.headers.range !== 'bytes=3000-11191') return undefined;
      const names = await partFiles(replyFile);
      const parts = await Promise.all(
        names.map(async (name) => ({
          name,
          size: (await stat(path.join(path.dirname(replyFile), name))).size,
        })),
      );
      onDisk.push({ target: existsSync(replyFile), parts });
      return undefined;
    });
    let cuts = 0;
    const proxy = await startCuttingProxy(server.front.port, (head) =>
      head.startsWith('GET ') && cuts++ === 0 ? 3000 : undefined,
    );
    closers.push(() => proxy.close());
    const upload = await uploadWithReply({ base: proxy.url });
    replyFile = upload.replyFile;

    const result = await upload.run;

    expect(server.packets.map(summary)).toEqual([
      ...UPLOAD,
      GET('0-8191'),
      GET('3000-11191'),
      GET('11192-19383'),
      GET('19384-19999'),
      'Close-Session',
    ]);
    expect(result.reply).toMatchObject({ bytes: 20_000, sha256: sha256(reply), requests: 4, resumes: 1 });
    expect(result.retries).toBe(1);
    expect(upload.events).toContainEqual(expect.objectContaining({ type: 'retry', packetType: 'GET reply' }));
    expect(onDisk).toEqual([
      { target: false, parts: [{ name: expect.stringMatching(/\.part$/), size: 3000 }] },
    ]);
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
    expect(await partFiles(replyFile)).toEqual([]);
  });

  test('a server that ignores Range answers 200 with the whole reply: one GET is enough', async () => {
    const reply = randomBytes(20_000);
    await serve(reply, (request) =>
      isGet(request) ? { statusCode: 200, headers: {}, body: reply } : undefined,
    );
    const { run, replyFile } = await uploadWithReply();

    const result = await run;

    expect(server.packets.map(summary)).toEqual([...UPLOAD, GET('0-8191'), 'Close-Session']);
    expect(result.reply).toMatchObject({ bytes: 20_000, requests: 1 });
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
  });

  test('a 200 after a broken body starts the file over from byte 0, not appended', async () => {
    const reply = randomBytes(20_000);
    await serve(reply, (request) =>
      isGet(request) ? { statusCode: 200, headers: {}, body: reply } : undefined,
    );
    let cuts = 0;
    const proxy = await startCuttingProxy(server.front.port, (head) =>
      head.startsWith('GET ') && cuts++ === 0 ? 5000 : undefined,
    );
    closers.push(() => proxy.close());
    const { run, replyFile } = await uploadWithReply({ base: proxy.url });

    const result = await run;

    expect(server.packets.map(summary)).toEqual([
      ...UPLOAD,
      GET('0-8191'),
      GET('5000-13191'),
      'Close-Session',
    ]);
    expect(result.reply).toMatchObject({ bytes: 20_000, sha256: sha256(reply) });
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
  });

  test('retries a GET answered 503, like any transient answer', async () => {
    const reply = randomBytes(1000);
    let failures = 0;
    await serve(reply, (request) =>
      isGet(request) && failures++ === 0 ? { statusCode: 503, headers: { 'Retry-After': '0' } } : undefined,
    );
    const { run, replyFile } = await uploadWithReply();

    const result = await run;

    expect(server.packets.map(summary)).toEqual([...UPLOAD, GET('0-8191'), GET('0-8191'), 'Close-Session']);
    expect(result.reply).toMatchObject({ bytes: 1000, requests: 2, resumes: 0 });
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
  });
});

describe('416 and 404 on the reply URL', () => {
  test('an empty reply answers the first range with 416 bytes */0: an empty file', async () => {
    await serve(Buffer.alloc(0));
    const { run, replyFile } = await uploadWithReply();

    const result = await run;

    expect(server.packets.map(summary)).toEqual([...UPLOAD, GET('0-8191'), 'Close-Session']);
    expect(result.reply).toMatchObject({ bytes: 0, sha256: sha256(Buffer.alloc(0)) });
    expect(await readFile(replyFile)).toHaveLength(0);
  });

  test('a 416 that contradicts the reply length is a protocol error: nothing on disk, Cancel-Session', async () => {
    await serve(randomBytes(100), (request) =>
      isGet(request) ? { statusCode: 416, headers: { 'Content-Range': 'bytes */5000' } } : undefined,
    );
    const { run, replyFile } = await uploadWithReply();

    await expect(run).rejects.toBeInstanceOf(ProtocolError);
    await expect(run).rejects.toThrow(/the reply has 5000 bytes, yet the range from byte 0 was refused/);
    expect(server.packets.map(summary)).toEqual([...UPLOAD, GET('0-8191'), 'Cancel-Session']);
    expect(existsSync(replyFile)).toBe(false);
    expect(await partFiles(replyFile)).toEqual([]);
  });

  test('a reply that changes length between GETs is refused', async () => {
    const reply = randomBytes(20_000);
    await serve(reply, (request) => {
      if (!isGet(request) || request.headers.range !== 'bytes=8192-16383') return undefined;
      const answer = serveRange(request, reply);
      return { ...answer, headers: { ...answer.headers, 'Content-Range': 'bytes 8192-16383/30000' } };
    });
    const { run, replyFile, events } = await uploadWithReply();

    await expect(run).rejects.toThrow(/the reply changed length during the download: 20000, now 30000 bytes/);
    // The refused answer was never read; the connection still has to be free for Cancel-Session.
    expect(server.packets.map(summary).slice(-2)).toEqual([GET('8192-16383'), 'Cancel-Session']);
    expect(events).toContainEqual({ type: 'cancel', acknowledged: true });
    expect(existsSync(replyFile)).toBe(false);
    expect(await partFiles(replyFile)).toEqual([]);
  });

  test('404: the reply is gone; reported as the HTTP error Windows names, not retried', async () => {
    await serve(randomBytes(100), (request) =>
      isGet(request) ? { statusCode: 404, headers: {} } : undefined,
    );
    const { run, replyFile } = await uploadWithReply();

    await expect(run).rejects.toMatchObject({
      name: 'ServerRefusedError',
      packetType: 'GET reply',
      status: 404,
      hresultName: 'BG_E_HTTP_ERROR_404',
      message: expect.stringMatching(/the reply is gone/),
    });
    expect(server.packets.map(summary)).toEqual([...UPLOAD, GET('0-8191'), 'Cancel-Session']);
    expect(existsSync(replyFile)).toBe(false);
  });
});

describe('the final Fragment Ack of an upload-reply job', () => {
  test('without BITS-Reply-URL is a protocol error (§3.3): no GET, Cancel-Session', async () => {
    await serve(undefined);
    const { run, replyFile } = await uploadWithReply();

    await expect(run).rejects.toBeInstanceOf(ProtocolError);
    await expect(run).rejects.toThrow(/no BITS-Reply-URL on the Ack of the final Fragment/);
    expect(server.packets.map(summary)).toEqual([...UPLOAD, 'Cancel-Session']);
    expect(existsSync(replyFile)).toBe(false);
  });

  test('with a reply URL that is not http(s) is a protocol error', async () => {
    await serve(randomBytes(10), undefined, () => 'file:///etc/passwd');

    await expect((await uploadWithReply()).run).rejects.toThrow(
      /unusable BITS-Reply-URL "file:\/\/\/etc\/passwd"/,
    );
    expect(server.packets.map(summary)).toEqual([...UPLOAD, 'Cancel-Session']);
  });

  /** The final Fragment answered once with the application's error (BITS-Error-Context 0x7). */
  const applicationFailsOnce =
    (status: number, hresult: number): Interceptor =>
    (request) => {
      if (!isFinalFragment(request) || fake.last.data.length === 10 * KiB) return undefined;
      // The server stored the bytes and asked the application, which failed.
      void fake.answer(request);
      return errorAck(status, hresult, { 'BITS-Error-Context': '0x7' });
    };

  test.each([
    [500, 0x801901f4],
    [408, 0x80070112], // the notification timeout (MC-BUP §3.3.6)
    [409, 0x80190199],
    [308, 0x80190134],
  ])(
    'the application answering %d is transient (§5.3): Ping, the final Fragment again, then the reply',
    async (status, hresult) => {
      const reply = randomBytes(100);
      await serve(reply, applicationFailsOnce(status, hresult));
      const { run, replyFile, events } = await uploadWithReply();

      const result = await run;

      expect(server.packets.map(summary)).toEqual([
        ...UPLOAD,
        'Ping',
        'Fragment 8192-10239/10240',
        GET('0-8191'),
        'Close-Session',
      ]);
      expect(result.retries).toBe(1);
      const retry = events.find((event) => event.type === 'retry');
      expect(retry).toMatchObject({
        packetType: 'Fragment',
        reason: expect.stringMatching(
          new RegExp(
            `^the server application failed on the upload \\(Fragment\\): ${status} .*BITS error ${formatHresult(hresult)} .*\\(context 0x7: server application\\) - .*transient \\(${status}\\)`,
          ),
        ),
      });
      expect((await readFile(replyFile)).equals(reply)).toBe(true);
    },
  );

  test.each([
    [403, 0x80190193],
    [404, 0x80190194],
    [302, 0x8019012e],
    [501, 0x801901f5],
    [505, 0x801901f9],
    [307, 0x80190133],
  ])(
    'the application answering %d is fatal (§5.3): an ApplicationError, no resend',
    async (status, hresult) => {
      await serve(randomBytes(100), applicationFailsOnce(status, hresult));
      const { run } = await uploadWithReply();

      const error: unknown = await run.catch((thrown: unknown) => thrown);

      expect(error).toBeInstanceOf(ApplicationError);
      expect(error).toBeInstanceOf(ServerRefusedError);
      expect(error).toMatchObject({
        status,
        hresult,
        context: 0x7,
        message: expect.stringMatching(/- fatal/),
      });
      expect(server.packets.map(summary)).toEqual([...UPLOAD, 'Cancel-Session']);
    },
  );

  test('a transient application error that persists ends in a give-up whose cause is the application error', async () => {
    await serve(randomBytes(100), (request) =>
      isFinalFragment(request) ? errorAck(500, 0x801901f4, { 'BITS-Error-Context': '0x7' }) : undefined,
    );
    const { run } = await uploadWithReply();

    const error: unknown = await run.catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).cause).toBeInstanceOf(ApplicationError);
    expect(server.packets.filter((packet) => packet.packetType === 'Fragment')).toHaveLength(4);
  });
});

describe('credentials go to the upload URL origin only', () => {
  const credentials = { user: 'alice', password: 'sesame' };
  const expected = `Basic ${Buffer.from('alice:sesame').toString('base64')}`;
  const unauthorized: FrontResponse = {
    statusCode: 401,
    headers: { 'WWW-Authenticate': 'Basic realm="bits"' },
  };

  /** Another origin (another port) serving the reply as a static file, as an application's static URL would. */
  async function otherOrigin(reply: Buffer, interceptor?: Interceptor): Promise<RecordingFront> {
    const other = await startRecordingFront(async (request) => serveRange(request, reply), interceptor);
    closers.push(() => other.close());
    return other;
  }

  test('a reply URL on another origin is fetched without the Basic credentials the upload used', async () => {
    const reply = randomBytes(10_000);
    let sessionOpenAtGet: boolean | undefined;
    const other = await otherOrigin(reply, () => {
      sessionOpenAtGet ??= !fake.last.closed;
      return undefined;
    });
    await serve(
      reply,
      (request) => (request.headers.authorization === expected ? undefined : unauthorized),
      () => `${other.url}/static/reply.bin?token=abc`,
    );
    const { run, replyFile } = await uploadWithReply({ credentials });

    const result = await run;

    expect(server.packets.map(summary)).toEqual(['Create-Session', ...UPLOAD, 'Close-Session']);
    expect(server.packets.slice(1).every((packet) => packet.authorization === expected)).toBe(true);
    expect(other.packets.map(summary)).toEqual([
      'GET /static/reply.bin bytes=0-8191',
      'GET /static/reply.bin bytes=8192-9999',
    ]);
    expect(other.packets.every((packet) => packet.authorization === undefined)).toBe(true);
    expect(sessionOpenAtGet).toBe(true);
    expect(result.reply?.url).toBe(`${other.url}/static/reply.bin?token=abc`);
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
  });

  test('a 401 from another origin is final: the credentials are not offered to it', async () => {
    const other = await otherOrigin(randomBytes(10), () => unauthorized);
    await serve(randomBytes(10), undefined, () => `${other.url}/static/reply.bin`);
    const { run } = await uploadWithReply({ credentials });

    await expect(run).rejects.toThrow(/not the upload URL's origin, and credentials go only there/);
    expect(other.packets.map((packet) => packet.authorization)).toEqual([undefined]);
    expect(server.packets.map(summary)).toEqual([...UPLOAD, 'Cancel-Session']);
  });

  test('a 401 on the reply URL of the upload origin is answered with Basic, which then stays on', async () => {
    const reply = randomBytes(100);
    await serve(reply, (request) =>
      isGet(request) && request.headers.authorization !== expected ? unauthorized : undefined,
    );
    const { run, replyFile, events } = await uploadWithReply({ credentials });

    await run;

    expect(server.packets.map(summary)).toEqual([...UPLOAD, GET('0-8191'), GET('0-8191'), 'Close-Session']);
    expect(server.packets.map((packet) => packet.authorization)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      expected,
      expected,
    ]);
    expect(events).toContainEqual({ type: 'auth', scheme: 'Basic' });
    expect((await readFile(replyFile)).equals(reply)).toBe(true);
  });
});

describe('refused before any packet', () => {
  test('a reply file in a directory that does not exist', async () => {
    await serve(randomBytes(10));
    const { path: file } = await files.random('early.bin', 10);

    const run = uploadFile({
      url: `${server.url}/up/a.bin`,
      file,
      reply: { file: '/nonexistent-dir/r.bin' },
    });

    await expect(run).rejects.toThrow(/cannot write the reply file \/nonexistent-dir\/r\.bin: no directory/);
    expect(server.packets).toHaveLength(0);
  });

  test('an empty file: no Fragment, so no Ack could name a reply', async () => {
    await serve(randomBytes(10));
    const file = await files.file('empty.bin', Buffer.alloc(0));

    await expect(
      uploadFile({ url: `${server.url}/up/a.bin`, file, reply: { file: `${file}.reply` } }),
    ).rejects.toThrow(/needs a file of at least one byte/);
    expect(server.packets).toHaveLength(0);
  });
});
