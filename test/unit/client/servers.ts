import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BitsLambdaHandler } from '../../../lambda/create-handler';
import { formatHresult } from '../../../lambda/protocol/errors';
import { BITS_UPLOAD_PROTOCOL } from '../../../lambda/protocol/supported-protocols';
import {
  type FrontRequest,
  type FrontResponse,
  type HttpFront,
  type HttpFrontOptions,
  startHttpFront,
} from '../../../local/http/server';
import { fromLambdaResult, toHttpApiEvent } from '../../../local/http/to-event';

/**
 * Servers for the client's socket tests (not a test file): the real handler behind the local
 * front, a scripted in-memory BITS server, and a proxy that loses answers.
 */

/** What the client sent, as the server saw it. */
export interface SeenPacket {
  readonly method: string;
  readonly packetType: string;
  readonly path: string;
  readonly host: string;
  readonly sessionId?: string;
  readonly range?: string;
  readonly contentName?: string;
  readonly authorization?: string;
  /** The Range header of a GET (reply downloads). */
  readonly rangeRequested?: string;
  readonly bodyLength: number;
}

export const seen = (request: FrontRequest): SeenPacket => {
  const h = request.headers;
  return {
    method: request.method,
    packetType: h['bits-packet-type'] ?? '',
    path: request.path,
    host: h.host ?? '',
    bodyLength: request.body.length,
    ...(h['bits-session-id'] === undefined ? {} : { sessionId: h['bits-session-id'] }),
    ...(h['content-range'] === undefined ? {} : { range: h['content-range'] }),
    ...(h['content-name'] === undefined ? {} : { contentName: h['content-name'] }),
    ...(h.authorization === undefined ? {} : { authorization: h.authorization }),
    ...(h.range === undefined ? {} : { rangeRequested: h.range }),
  };
};

/**
 * `Fragment 0-99/300`, `Ping`, `GET /up/r.bin bytes=0-99`: a request in one short string, for
 * sequence assertions.
 */
export const summary = (packet: SeenPacket): string => {
  if (packet.packetType === '' && packet.method !== 'BITS_POST') {
    return [packet.method, packet.path, packet.rangeRequested].filter((part) => part !== undefined).join(' ');
  }
  return packet.range === undefined
    ? packet.packetType
    : `${packet.packetType} ${packet.range.replace(/^bytes /, '')}`;
};

export type Interceptor = (
  request: FrontRequest,
  index: number,
) => FrontResponse | undefined | Promise<FrontResponse | undefined>;

export interface RecordingFront {
  readonly front: HttpFront;
  readonly url: string;
  readonly packets: SeenPacket[];
  close(): Promise<void>;
}

/** A front whose requests are recorded, answered by `interceptor` first, then by `answer`. */
export async function startRecordingFront(
  answer: (request: FrontRequest) => Promise<FrontResponse>,
  interceptor?: Interceptor,
  options: Partial<HttpFrontOptions> = {},
): Promise<RecordingFront> {
  const packets: SeenPacket[] = [];
  const front = await startHttpFront({
    onError: () => undefined,
    ...options,
    onRequest: async (request) => {
      const index = packets.length;
      packets.push(seen(request));
      return (await interceptor?.(request, index)) ?? answer(request);
    },
  });
  return { front, url: front.url, packets, close: () => front.close() };
}

/** The real Lambda handler, the way the local server runs it. */
export const viaHandler =
  (handler: BitsLambdaHandler) =>
  async (request: FrontRequest): Promise<FrontResponse> =>
    fromLambdaResult(await handler(toHttpApiEvent(request)));

/** Acks as a BITS server writes them. */
export function ack(
  status: number,
  headers: Record<string, string | number | undefined> = {},
): FrontResponse {
  const result: Record<string, string> = { 'BITS-Packet-Type': 'Ack' };
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) result[name] = String(value);
  return { statusCode: status, headers: result };
}

export function errorAck(status: number, hresult: number, extra: Record<string, string> = {}): FrontResponse {
  return ack(status, {
    'BITS-Error-Code': formatHresult(hresult),
    'BITS-Error-Context': '0x5',
    ...extra,
  });
}

/**
 * A static file by the rules of BITS downloads (the reply URL follows them, §7.4): HEAD and GET
 * without Range → 200 with the whole length; one `bytes=a-b` or `bytes=a-` range → 206 with
 * `Content-Range: bytes a-b/size`; a range starting at or past the end → 416 with
 * `bytes *` + `/size`.
 */
export function serveRange(request: FrontRequest, data: Buffer): FrontResponse {
  const headers = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' };
  const match = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range?.trim() ?? '');
  // No Range, or one this server does not serve (several ranges): the whole file, as RFC 9110 allows.
  if (match === null) return { statusCode: 200, headers, body: data };
  const first = Number(match[1]);
  if (first >= data.length) {
    return { statusCode: 416, headers: { ...headers, 'Content-Range': `bytes */${data.length}` } };
  }
  const last = Math.min(match[2] === '' ? data.length - 1 : Number(match[2]), data.length - 1);
  return {
    statusCode: 206,
    headers: { ...headers, 'Content-Range': `bytes ${first}-${last}/${data.length}` },
    body: data.subarray(first, last + 1),
  };
}

/** The IIS form of BITS-Reply-URL (RX-2): relative to the upload URL, with backslashes. */
export const iisReplyUrl = (sessionId: string): string =>
  `BITS-Sessions\\Replies\\${sessionId}\\responsefile.bin`;

export interface FakeSession {
  data: Buffer;
  total?: number;
  closed: boolean;
}

export interface FakeBitsServerOptions {
  /**
   * Upload-reply: the Ack that completes the file names `url(sessionId)` (default the IIS form) in
   * BITS-Reply-URL, and GET/HEAD of `…/Replies/<session id>/responsefile.bin` serve `data` until
   * the session is closed or cancelled (then 404, as the reply is deleted).
   */
  readonly reply?: { readonly data: Buffer; readonly url?: (sessionId: string) => string };
}

/**
 * An in-memory BITS server with the project's rules (contiguous prefix, D6 overlaps, 416 for gaps),
 * small enough to set up states a test needs: bytes it already holds, a session it forgets.
 */
export class FakeBitsServer {
  /** Bytes received so far, per session. */
  readonly sessions = new Map<string, FakeSession>();
  private counter = 0;

  constructor(private readonly options: FakeBitsServerOptions = {}) {}

  /** The session most recently created. */
  get last(): FakeSession {
    const session = [...this.sessions.values()].at(-1);
    if (session === undefined) throw new Error('no session yet');
    return session;
  }

  /** The reply of a session, as its reply URL serves it. */
  readonly serveReply = (request: FrontRequest): FrontResponse => {
    const { reply } = this.options;
    const id = /\/([^/]+)\/responsefile\.bin$/.exec(request.path)?.[1];
    const session = id === undefined ? undefined : this.sessions.get(decodeURIComponent(id));
    if (
      reply === undefined ||
      session === undefined ||
      session.closed ||
      session.data.length !== session.total
    ) {
      return { statusCode: 404, headers: {} };
    }
    return serveRange(request, reply.data);
  };

  readonly answer = async (request: FrontRequest): Promise<FrontResponse> => {
    if (request.method === 'GET' || request.method === 'HEAD') return this.serveReply(request);
    const type = request.headers['bits-packet-type']?.toLowerCase();
    const id = request.headers['bits-session-id'];
    if (type === 'ping') return ack(200);
    if (type === 'create-session') {
      const sessionId = `{00000000-0000-4000-8000-${String(++this.counter).padStart(12, '0')}}`;
      this.sessions.set(sessionId, { data: Buffer.alloc(0), closed: false });
      return ack(200, { 'BITS-Protocol': BITS_UPLOAD_PROTOCOL, 'BITS-Session-Id': sessionId });
    }
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (session === undefined) return errorAck(500, 0x8020001f);
    if (type === 'close-session' || type === 'cancel-session') {
      session.closed = true;
      return ack(200, { 'BITS-Session-Id': id });
    }
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(request.headers['content-range'] ?? '');
    if (type !== 'fragment' || match === null) return errorAck(400, 0x80070057);
    const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
    session.total = total;
    const received = session.data.length;
    if (first > received) return ack(416, { 'BITS-Session-Id': id, 'BITS-Received-Content-Range': received });
    if (last >= received)
      session.data = Buffer.concat([session.data, request.body.subarray(received - first)]);
    const { reply } = this.options;
    // Every Ack that reports the whole file names the reply, so a resent final Fragment gets it again.
    const replyUrl =
      reply !== undefined && session.data.length === total && id !== undefined
        ? (reply.url ?? iisReplyUrl)(id)
        : undefined;
    return ack(200, {
      'BITS-Session-Id': id,
      'BITS-Received-Content-Range': session.data.length,
      'BITS-Reply-URL': replyUrl,
    });
  };
}

/**
 * A TCP proxy that loses answers: when `drop` says so for the request just forwarded, the
 * upstream's answer is thrown away and the client's connection destroyed, after the server
 * processed the whole request (a lost Ack). Counts the client's TCP connections.
 */
export async function startDroppingProxy(
  upstreamPort: number,
  drop: (requestHead: string) => boolean,
): Promise<{ url: string; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let pending = '';
    client.on('data', (chunk: Buffer) => {
      // Only the head matters; the latin1 text of a body is never inspected beyond its start.
      if (pending.length < 4096) pending += chunk.toString('latin1', 0, Math.min(chunk.length, 4096));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const head = pending;
      pending = '';
      if (head !== '' && drop(head)) {
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A TCP proxy that breaks answers mid-body: when `cut` returns a number for the request just
 * forwarded, the answer's head and that many bytes of its body reach the client, then the
 * connection closes (what a dropped connection during a download looks like).
 */
export async function startCuttingProxy(
  upstreamPort: number,
  cut: (requestHead: string) => number | undefined,
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let pending = '';
    /** The answer being cut: its head so far (until the blank line) and the body bytes still allowed. */
    let cutting: { head: Buffer; headDone: boolean; allowance: number } | undefined;
    let cutDone = false;
    client.on('data', (chunk: Buffer) => {
      if (pending.length < 4096) pending += chunk.toString('latin1', 0, Math.min(chunk.length, 4096));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (pending !== '') {
        const allowance = cut(pending);
        cutting = allowance === undefined ? undefined : { head: Buffer.alloc(0), headDone: false, allowance };
        pending = '';
      }
      if (cutting === undefined) {
        client.write(chunk);
        return;
      }
      let body = chunk;
      if (!cutting.headDone) {
        const seen = Buffer.concat([cutting.head, chunk]);
        const end = seen.indexOf('\r\n\r\n');
        if (end < 0) {
          cutting.head = seen;
          return;
        }
        cutting.headDone = true;
        client.write(seen.subarray(0, end + 4));
        body = seen.subarray(end + 4);
      }
      const passed = body.subarray(0, cutting.allowance);
      cutting.allowance -= passed.length;
      client.write(passed);
      if (cutting.allowance === 0) {
        cutDone = true;
        upstream.destroy();
        // end(), not destroy(): the bytes written so far must reach the client before the FIN.
        client.end();
      }
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('error', end);
    upstream.on('close', () => {
      if (!cutDone) end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** A scratch directory with files of chosen content, removed by `dispose`. */
export async function scratchDir(): Promise<{
  file(name: string, data: Buffer): Promise<string>;
  random(name: string, size: number): Promise<{ path: string; data: Buffer }>;
  dispose(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bits-upload-test-'));
  const file = async (name: string, data: Buffer): Promise<string> => {
    const target = path.join(dir, name);
    await writeFile(target, data);
    return target;
  };
  return {
    file,
    random: async (name, size) => {
      const data = randomBytes(size);
      return { path: await file(name, data), data };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
