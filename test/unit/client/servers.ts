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
  };
};

/** `Fragment 0-99/300`, `Ping`: a packet in one short string, for sequence assertions. */
export const summary = (packet: SeenPacket): string =>
  packet.range === undefined
    ? packet.packetType
    : `${packet.packetType} ${packet.range.replace(/^bytes /, '')}`;

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
 * An in-memory BITS server with the project's rules (contiguous prefix, D6 overlaps, 416 for gaps),
 * small enough to set up states a test needs: bytes it already holds, a session it forgets.
 */
export class FakeBitsServer {
  /** Bytes received so far, per session. */
  readonly sessions = new Map<string, { data: Buffer; total?: number; closed: boolean }>();
  private counter = 0;

  /** The session most recently created. */
  get last(): { data: Buffer; total?: number; closed: boolean } {
    const session = [...this.sessions.values()].at(-1);
    if (session === undefined) throw new Error('no session yet');
    return session;
  }

  readonly answer = async (request: FrontRequest): Promise<FrontResponse> => {
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
    return ack(200, { 'BITS-Session-Id': id, 'BITS-Received-Content-Range': session.data.length });
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
