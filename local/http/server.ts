import net from 'node:net';
import tls from 'node:tls';
import { BodyPool } from './body-pool';
import { internalErrorResponse, refusalResponse } from './refusal';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  type MaxBodyBytes,
  type ParsedRequest,
  type ParseStep,
  RequestParser,
} from './request-parser';
import { type SerializedResponse, serializeResponse } from './serialize-response';
import type { FrontRequest, FrontResponse, RequestCallback } from './types';

export type { FrontRequest, FrontResponse, RequestCallback } from './types';

export interface HttpFrontOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Called for each complete request, one at a time per connection, in arrival order. */
  readonly onRequest: RequestCallback;
  /** Largest body accepted, or a function of the header block; larger → 413 before the body. */
  readonly maxBodyBytes?: MaxBodyBytes;
  /** Largest header block; larger → 431. Default 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Time allowed for a whole header block once its first byte arrived; then 408. Default 30 s. */
  readonly headerTimeoutMs?: number;
  /**
   * Time without a byte from the client: mid-request → 408, between requests → the keep-alive
   * connection is closed. Time spent in `onRequest` never counts. Default 2 min.
   */
  readonly idleTimeoutMs?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Faults of the application (a throw from `onRequest`); default: one line on stderr. */
  readonly onError?: (error: unknown) => void;
  /** Called with a request's body size once its answer is written (and nothing refers to the body). */
  readonly onAnswered?: (bodyBytes: number) => void;
  /**
   * Bytes of body buffers kept for later requests once their own are answered (body-pool.ts).
   * `onRequest` must not use a body after its answer has settled. Default 16 MiB; 0 keeps none.
   */
  readonly reusedBodyBytes?: number;
}

export interface HttpFront {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` or `https://host:port`, without a trailing slash. */
  readonly url: string;
  /** Stops listening and destroys open connections. */
  close(): Promise<void>;
}

interface FrontConfig {
  readonly onRequest: RequestCallback;
  readonly onError: (error: unknown) => void;
  readonly onAnswered?: (bodyBytes: number) => void;
  readonly bodies: BodyPool;
  readonly maxBodyBytes: MaxBodyBytes;
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

const DEFAULT_REUSED_BODY_BYTES = 16 * 1024 * 1024;
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
/** Upper bound on reading and discarding after the front closed its side (lingering close). */
const MAX_LINGER_MS = 2000;

const logToStderr = (error: unknown): void => {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`local http front: ${detail}\n`);
};

/**
 * Starts the local HTTP/1.1 front (HTTPS when `tls` is given) on our own request parser; see
 * request-parser.ts for why not `node:http`. Generic over `onRequest`: the only BITS it knows
 * is the error headers on the refusals it makes itself.
 */
export async function startHttpFront(options: HttpFrontOptions): Promise<HttpFront> {
  const config: FrontConfig = {
    onRequest: options.onRequest,
    onError: options.onError ?? logToStderr,
    ...(options.onAnswered === undefined ? {} : { onAnswered: options.onAnswered }),
    bodies: new BodyPool(options.reusedBodyBytes ?? DEFAULT_REUSED_BODY_BYTES),
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    headerTimeoutMs: options.headerTimeoutMs ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
  };
  const onConnection = (socket: net.Socket): void => {
    new FrontConnection(socket, config);
  };
  // allowHalfOpen: a client may shut down its sending side after the last request and still read the answers.
  const server = options.tls
    ? tls.createServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          allowHalfOpen: true,
          handshakeTimeout: config.headerTimeoutMs,
        },
        onConnection,
      )
    : net.createServer({ allowHalfOpen: true }, onConnection);
  // A failed TLS handshake only loses that connection.
  server.on('tlsClientError', () => undefined);
  // Raw TCP sockets (before any TLS handshake), so close() can destroy every one of them.
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Accept failures (EMFILE…) after start must not crash the process.
  server.on('error', config.onError);
  const port = (server.address() as net.AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port,
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/**
 * One client connection: feeds the parser, answers requests strictly in order with at most one
 * `onRequest` in flight, and applies the timeouts. Never throws out of socket events.
 */
class FrontConnection {
  private readonly parser: RequestParser;
  private readonly remoteAddress: string;
  private readonly idleTimer: NodeJS.Timeout;
  private headerTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** An `onRequest` call (or the write of its answer) is in progress. */
  private busy = false;
  /** The front has sent, or is sending, its last bytes on this connection. */
  private closing = false;
  /** The client will send nothing more. */
  private peerEnded = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly config: FrontConfig,
  ) {
    this.parser = new RequestParser({
      maxHeaderBytes: config.maxHeaderBytes,
      maxBodyBytes: config.maxBodyBytes,
      allocateBody: (length) => config.bodies.take(length),
    });
    this.remoteAddress = socket.remoteAddress ?? '';
    socket.setNoDelay(true);
    this.idleTimer = setTimeout(() => this.onIdle(), config.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.peerEnded = true;
      this.pump();
    });
    // ECONNRESET, EPIPE…: the socket is destroyed and 'close' follows; nothing else to do.
    socket.on('error', () => undefined);
    socket.on('close', () => this.dispose());
  }

  private onData(chunk: Buffer): void {
    this.idleTimer.refresh();
    if (this.closing) return; // lingering close: read and discard
    this.parser.push(chunk);
    this.pump();
  }

  /** Advances through every complete step the buffered bytes allow, unless a request is in flight. */
  private pump(): void {
    while (!this.busy && !this.closing && !this.socket.destroyed) {
      let step: ParseStep;
      try {
        step = this.parser.next();
      } catch (error) {
        // Only a throwing maxBodyBytes callback gets here.
        this.config.onError(error);
        this.refuse(internalErrorResponse());
        return;
      }
      switch (step.type) {
        case 'need-more':
          if (this.peerEnded) this.endGracefully();
          else this.armHeaderTimer();
          return;
        case 'head':
          this.clearHeaderTimer();
          if (step.head.expectContinue && step.head.contentLength > 0) this.socket.write(CONTINUE);
          break;
        case 'error':
          this.refuse(refusalResponse(step.error.status));
          return;
        case 'request':
          this.dispatch(step.request);
          return;
      }
    }
  }

  private dispatch(parsed: ParsedRequest): void {
    this.busy = true;
    this.socket.pause(); // pipelined bytes wait in the kernel, not in our memory
    const { head, body } = parsed;
    const request: FrontRequest = {
      method: head.method,
      target: head.target,
      path: head.path,
      headers: head.headers,
      rawHeaders: head.rawHeaders,
      body,
      remoteAddress: this.remoteAddress,
    };
    const close = !head.keepAlive;
    const headOnly = head.method === 'HEAD';
    const bodyBytes = body.length;
    this.answer(request, { close, headOnly })
      .then((answer) => {
        // The application is done with the body (its promise has settled); the answer may still
        // refer to it (an echo) until it is written.
        this.afterAnswer(answer, () => this.config.bodies.give(body));
        this.config.onAnswered?.(bodyBytes);
      })
      .catch((error: unknown) => {
        // Writing failed in a way the socket did not report itself: drop this connection only.
        this.config.onError(error);
        this.socket.destroy();
      });
  }

  /** The application's answer, or 500 when it throws (even synchronously) or answers nonsense. */
  private async answer(
    request: FrontRequest,
    options: { close: boolean; headOnly: boolean },
  ): Promise<SerializedResponse> {
    try {
      return serializeResponse(await this.config.onRequest(request), options);
    } catch (error) {
      this.config.onError(error);
      return serializeResponse(internalErrorResponse(), options);
    }
  }

  /** Writes the answer; `written` runs once the socket no longer needs its bytes. */
  private afterAnswer(answer: SerializedResponse, written: () => void): void {
    if (this.socket.destroyed) return;
    this.write(answer, written);
    this.idleTimer.refresh();
    if (answer.close) {
      this.endGracefully();
      return;
    }
    const proceed = (): void => {
      this.busy = false;
      this.socket.resume();
      this.pump();
    };
    // A client that does not read its answers does not get more of them queued in memory.
    if (this.socket.writableNeedDrain) this.socket.once('drain', proceed);
    else proceed();
  }

  private write(answer: SerializedResponse, written?: () => void): void {
    this.socket.cork();
    if (answer.body === undefined) this.socket.write(answer.head, written);
    else {
      this.socket.write(answer.head);
      this.socket.write(answer.body, written);
    }
    this.socket.uncork();
  }

  /** Answers a request the front will not pass on, then closes (the framing can no longer be trusted). */
  private refuse(response: FrontResponse): void {
    if (this.closing || this.socket.destroyed) return;
    this.write(serializeResponse(response, { close: true }));
    this.endGracefully();
  }

  /** Sends FIN, keeps reading (and discarding) for a moment so the answer is not lost to a reset. */
  private endGracefully(): void {
    if (this.closing) return;
    this.closing = true;
    this.clearHeaderTimer();
    this.socket.resume();
    this.socket.end();
    this.lingerTimer = setTimeout(
      () => this.socket.destroy(),
      Math.min(MAX_LINGER_MS, this.config.idleTimeoutMs),
    );
  }

  private armHeaderTimer(): void {
    if (this.headerTimer !== undefined || !this.parser.awaitingHead || this.parser.bufferedBytes === 0)
      return;
    this.headerTimer = setTimeout(() => {
      this.headerTimer = undefined;
      if (!this.busy && this.parser.awaitingHead) this.refuse(refusalResponse(408));
    }, this.config.headerTimeoutMs);
  }

  private clearHeaderTimer(): void {
    clearTimeout(this.headerTimer);
    this.headerTimer = undefined;
  }

  private onIdle(): void {
    if (this.busy) {
      this.idleTimer.refresh(); // the application is slow, not the client
    } else if (this.closing) {
      this.socket.destroy();
    } else if (this.parser.midRequest) {
      this.refuse(refusalResponse(408));
    } else {
      this.endGracefully();
    }
  }

  private dispose(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.lingerTimer);
    this.clearHeaderTimer();
  }
}
