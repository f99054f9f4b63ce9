import net from 'node:net';

/**
 * A deliberately dumb HTTP/1.1 client on a raw socket, for tests of the local front that must send
 * exactly the bytes they choose (pipelining, broken framing, split writes). Not a test file itself.
 */

export interface RawResponse {
  readonly status: number;
  readonly reason: string;
  /** Lower-case names; the test server never repeats a response header. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface ParsedResponses {
  readonly responses: RawResponse[];
  /** Bytes after the last complete response. */
  readonly rest: Buffer;
  /** The bytes cannot be the start of a valid response. */
  readonly malformed: boolean;
}

/** Splits the bytes a server sent into responses (interim 1xx ones included). */
export function parseResponses(bytes: Buffer): ParsedResponses {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', at);
    const rest = bytes.subarray(at);
    if (headEnd < 0)
      return { responses, rest, malformed: !'HTTP/1.1 '.startsWith(rest.toString('latin1', 0, 9)) };
    const [statusLine = '', ...fieldLines] = bytes.toString('latin1', at, headEnd).split('\r\n');
    const match = /^HTTP\/1\.1 (\d{3}) ([^\r\n]*)$/.exec(statusLine);
    if (!match) return { responses, rest, malformed: true };
    const headers: Record<string, string> = {};
    for (const line of fieldLines) {
      const colon = line.indexOf(':');
      if (colon <= 0) return { responses, rest, malformed: true };
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(match[1]);
    const length = status < 200 || status === 204 || status === 304 ? 0 : Number(headers['content-length']);
    if (!Number.isSafeInteger(length)) return { responses, rest, malformed: true };
    const bodyStart = headEnd + 4;
    if (bytes.length < bodyStart + length) return { responses, rest, malformed: false };
    responses.push({
      status,
      reason: match[2] ?? '',
      headers,
      body: bytes.subarray(bodyStart, bodyStart + length),
    });
    at = bodyStart + length;
  }
}

export const finalResponses = (responses: readonly RawResponse[]): RawResponse[] =>
  responses.filter((response) => response.status >= 200);

/** A client connection that records everything the server sends and when it closes. */
export class RawConnection {
  received: Buffer = Buffer.alloc(0);
  closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.notify();
    });
    socket.on('error', () => undefined);
    // The server's FIN is what matters: it will send nothing more.
    const markClosed = (): void => {
      this.closed = true;
      this.notify();
    };
    socket.on('end', markClosed);
    socket.on('close', markClosed);
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Half-closes: the server sees end of input but can still answer. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  get parsed(): ParsedResponses {
    return parseResponses(this.received);
  }

  /** Resolves once `done()` holds; rejects after `timeoutMs`. */
  waitFor(done: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.received.toString('latin1').slice(0, 300))}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Waits for `count` final (non-1xx) responses. */
  async responses(count: number, timeoutMs = 2000): Promise<RawResponse[]> {
    await this.waitFor(
      () => finalResponses(this.parsed.responses).length >= count || this.closed,
      timeoutMs,
      `${count} responses`,
    );
    return finalResponses(this.parsed.responses);
  }

  waitForClose(timeoutMs = 2000): Promise<void> {
    return this.waitFor(() => this.closed, timeoutMs, 'the server to close');
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A small valid request; `Content-Length` is always sent. */
export function rawRequest(
  options: { method?: string; target?: string; headers?: readonly string[]; body?: string | Buffer } = {},
): Buffer {
  const body =
    typeof options.body === 'string'
      ? Buffer.from(options.body, 'latin1')
      : (options.body ?? Buffer.alloc(0));
  const lines = [
    `${options.method ?? 'BITS_POST'} ${options.target ?? '/up/a.bin'} HTTP/1.1`,
    'Host: 127.0.0.1',
    `Content-Length: ${body.length}`,
    ...(options.headers ?? []),
  ];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}
