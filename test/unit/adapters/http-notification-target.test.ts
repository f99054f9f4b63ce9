import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { HttpNotificationTarget } from '../../../lambda/adapters/http-notification-target';
import {
  ApplicationUnreachableError,
  ReplyTooLargeError,
  type UploadNotice,
} from '../../../lambda/ports/notification-target';

interface Seen {
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** A loopback application answering what each test says. */
async function application(respond: (seen: Seen, response: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { method: request.method ?? '', headers: request.headers, body: Buffer.concat(chunks) };
      seen.push(entry);
      respond(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
  return {
    url,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const file = Buffer.from('the uploaded file, streamed');

const notice = (type: UploadNotice['type']): UploadNotice => ({
  type,
  bucket: 'uploads',
  key: 'uploads/a.bin',
  sessionId: '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}',
  principal: 'DOMAIN\\älice',
  size: file.length,
  metadata: {},
  originalRequestUrl: 'https://bits.example/dir/a.bin',
  dataFileName: 's3://uploads/uploads/a.bin',
  dataFileUrl: 'https://s3.example/get?sig=1',
  responseFileName: 's3://uploads/bits-replies/x/responsefile.bin',
  responseFileUrl: 'https://s3.example/put?sig=2',
  openBody: async () =>
    (async function* () {
      yield file.subarray(0, 10);
      yield file.subarray(10);
    })(),
});

const signal = () => new AbortController().signal;

describe('HttpNotificationTarget', () => {
  it('by reference: POST with Content-Length 0 and the IIS headers plus presigned links', async () => {
    const app = await application((_seen, response) => response.writeHead(200).end('ok'));
    try {
      const answer = await new HttpNotificationTarget(app.url).notify(notice('by-reference'), signal());
      expect(answer).toEqual({ status: 200, body: Buffer.from('ok') });
      const [request] = app.seen;
      expect(request?.method).toBe('POST');
      expect(request?.body.length).toBe(0);
      expect(request?.headers).toMatchObject({
        'content-length': '0',
        'user-agent': 'BITSExts 1.5',
        'bits-original-request-url': 'https://bits.example/dir/a.bin',
        'bits-request-datafile-name': 's3://uploads/uploads/a.bin',
        'bits-request-datafile-url': 'https://s3.example/get?sig=1',
        'bits-response-datafile-name': 's3://uploads/bits-replies/x/responsefile.bin',
        'bits-response-datafile-url': 'https://s3.example/put?sig=2',
        'bits-session-id': '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}',
        'bits-principal': 'DOMAIN%5C%C3%A4lice',
      });
    } finally {
      await app.stop();
    }
  });

  it('by value: the object streams as the body with its Content-Length; no file names are sent', async () => {
    const app = await application((_seen, response) => response.writeHead(200).end('reply'));
    try {
      await new HttpNotificationTarget(app.url).notify(notice('by-value'), signal());
      const [request] = app.seen;
      expect(request?.body.equals(file)).toBe(true);
      expect(request?.headers['content-length']).toBe(String(file.length));
      expect(request?.headers['content-type']).toBe('application/octet-stream');
      expect(request?.headers['transfer-encoding']).toBeUndefined();
      expect(request?.headers['bits-request-datafile-name']).toBeUndefined();
    } finally {
      await app.stop();
    }
  });

  it('returns error statuses as they are, with BITS-Static-Response-URL when given, following no redirect', async () => {
    const app = await application((seen, response) => {
      if (app.seen.length === 1) response.writeHead(503).end();
      else
        response
          .writeHead(302, { Location: '/elsewhere', 'BITS-Static-Response-URL': 'https://x.example/r' })
          .end();
      void seen;
    });
    try {
      const target = new HttpNotificationTarget(app.url);
      expect((await target.notify(notice('by-reference'), signal())).status).toBe(503);
      expect(await target.notify(notice('by-reference'), signal())).toEqual({
        status: 302,
        body: Buffer.alloc(0),
        staticResponseUrl: 'https://x.example/r',
      });
      expect(app.seen).toHaveLength(2);
    } finally {
      await app.stop();
    }
  });

  it('refuses an answer body above the reply limit', async () => {
    const app = await application((_seen, response) => response.writeHead(200).end(Buffer.alloc(2000)));
    try {
      await expect(
        new HttpNotificationTarget(app.url, 1000).notify(notice('by-reference'), signal()),
      ).rejects.toBeInstanceOf(ReplyTooLargeError);
    } finally {
      await app.stop();
    }
  });

  it('sends names outside ASCII (and %) as percent-encoded UTF-8 that decodeURIComponent reverses; URLs keep their escapes', async () => {
    const app = await application((_seen, response) => response.writeHead(200).end());
    try {
      const dataFileName = 's3://uploads/uploads/日本/é 100%.bin';
      const responseFileName = 's3://uploads/bits-replies/{X}/1/incoming.bin';
      await new HttpNotificationTarget(app.url).notify(
        {
          ...notice('by-reference'),
          dataFileName,
          responseFileName,
          originalRequestUrl: 'https://bits.example/%E6%97%A5%E6%9C%AC/é.bin',
        },
        signal(),
      );
      const headers = app.seen[0]?.headers ?? {};
      expect(headers['bits-request-datafile-name']).toBe(
        's3://uploads/uploads/%E6%97%A5%E6%9C%AC/%C3%A9%20100%25.bin',
      );
      expect(decodeURIComponent(String(headers['bits-request-datafile-name']))).toBe(dataFileName);
      expect(headers['bits-response-datafile-name']).toBe(responseFileName);
      expect(headers['bits-original-request-url']).toBe('https://bits.example/%E6%97%A5%E6%9C%AC/%C3%A9.bin');
    } finally {
      await app.stop();
    }
  });

  it('by value: an answer before the whole body was read destroys the object stream (its S3 socket is freed)', async () => {
    const early = http.createServer((_request, response) => response.writeHead(200).end('early'));
    await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', () => resolve()));
    try {
      // Far more than the socket buffers hold: the application answers long before the end.
      let produced = 0;
      const source = new Readable({
        read() {
          produced += 1;
          this.push(produced < 10_000 ? Buffer.alloc(64 * 1024) : null);
        },
      });
      const url = `http://127.0.0.1:${(early.address() as AddressInfo).port}/notify`;
      const answer = await new HttpNotificationTarget(url).notify(
        { ...notice('by-value'), size: 10_000 * 64 * 1024, openBody: async () => source },
        signal(),
      );
      expect(answer.body.toString()).toBe('early');
      expect(source.destroyed).toBe(true);
      expect(produced).toBeLessThan(10_000);
    } finally {
      await new Promise<void>((resolve) => {
        early.close(() => resolve());
        early.closeAllConnections();
      });
    }
  });

  it('by value: an abort while the body streams destroys the object stream', async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const source = new Readable({
        read() {
          setTimeout(() => this.push(Buffer.alloc(1024)), 10);
        },
      });
      const controller = new AbortController();
      const reason = new Error('our timeout');
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/notify`;
      const pending = new HttpNotificationTarget(url).notify(
        { ...notice('by-value'), size: 1 << 30, openBody: async () => source },
        controller.signal,
      );
      setTimeout(() => controller.abort(reason), 100);
      await expect(pending).rejects.toBe(reason);
      expect(source.destroyed).toBe(true);
    } finally {
      await new Promise<void>((resolve) => {
        silent.close(() => resolve());
        silent.closeAllConnections();
      });
    }
  });

  it('a refused connection is an unreachable application', async () => {
    const app = await application(() => undefined);
    await app.stop();
    await expect(
      new HttpNotificationTarget(app.url).notify(notice('by-reference'), signal()),
    ).rejects.toBeInstanceOf(ApplicationUnreachableError);
  });

  it('stops when the caller aborts and rejects with the abort reason', async () => {
    const app = await application(() => undefined);
    try {
      const controller = new AbortController();
      const reason = new Error('our timeout');
      const pending = new HttpNotificationTarget(app.url).notify(notice('by-value'), controller.signal);
      setTimeout(() => controller.abort(reason), 50);
      await expect(pending).rejects.toBe(reason);
    } finally {
      await app.stop();
    }
  });
});
