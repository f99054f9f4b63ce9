import http from 'node:http';
import https from 'node:https';
import { CancelledError, NetworkError } from './errors';

export interface TransportOptions {
  /** Accept any server certificate (self-signed test servers). */
  readonly insecure?: boolean;
  /** Extra trusted CA certificates (PEM). */
  readonly ca?: string | Buffer;
  /**
   * Longest silence on the connection, sending or waiting (MC-BUP §3.1.2: Windows allows 2 min to
   * send and 5 min for the answer).
   */
  readonly timeoutMs: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly statusText: string;
  /** Lower-case names, repeated fields joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The first bytes of the body as text; BITS Acks have none. */
  readonly bodyExcerpt: string;
}

/** An answer whose body is still arriving. */
export interface StreamedAnswer extends Omit<HttpAnswer, 'bodyExcerpt'> {
  /**
   * The body as it arrives. Throws NetworkError when the connection breaks before the end
   * (Content-Length not reached), CancelledError after an abort.
   */
  readonly body: AsyncIterable<Buffer>;
  /** Drops the rest of the body (and the connection with it, unless the body was complete). */
  readonly discard: () => void;
}

const BODY_EXCERPT_BYTES = 512;

/** Certificate problems: retrying cannot fix them (node's TLS error codes). */
const TLS_CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * HTTP/1.1 requests over one keep-alive connection at a time (maxSockets 1: BITS has one request
 * in flight, and reusing the connection is what makes Ping-based auth and resumption meaningful).
 * `node:http` sends the extension method BITS_POST as given.
 */
export class Transport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: TransportOptions) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 1,
      rejectUnauthorized: options.insecure !== true,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
  }

  /** One request; the answer with the first bytes of its body, read to the end. */
  async request(
    method: string,
    url: URL,
    headers: Readonly<Record<string, string>>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpAnswer> {
    const { body: stream, discard, ...head } = await this.open(method, url, headers, body, signal);
    try {
      return { ...head, bodyExcerpt: await readExcerpt(stream) };
    } finally {
      discard();
    }
  }

  /**
   * One request, answered as soon as the head arrives; the body follows as a stream (the reply
   * download writes it to disk as it comes). The caller reads the body to its end, which returns
   * the connection to the pool, or calls `discard`.
   */
  open(
    method: string,
    url: URL,
    headers: Readonly<Record<string, string>>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<StreamedAnswer> {
    if (signal?.aborted) return Promise.reject(new CancelledError('cancelled'));
    const secure = url.protocol === 'https:';
    return new Promise<StreamedAnswer>((resolve, reject) => {
      let settled = false;
      /** Why this side ended the request (abort, timeout): what a broken body reports. */
      let reason: Error | undefined;
      const fail = (error: Error): void => {
        reason ??= error;
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };
      const request = (secure ? https : http).request(url, {
        method,
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
      const onAbort = (): void => {
        fail(new CancelledError('cancelled'));
        request.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      request.setTimeout(this.options.timeoutMs, () => {
        fail(
          new NetworkError(`no answer from ${url.host} within ${this.options.timeoutMs} ms`, {
            code: 'ETIMEDOUT',
          }),
        );
        request.destroy();
      });
      request.on('error', (error: NodeJS.ErrnoException) => fail(toNetworkError(error, url)));
      request.on('response', (response) => {
        if (settled) {
          response.destroy();
          return;
        }
        settled = true;
        // Errors surface through the body's iterator; without a listener they would crash the process.
        response.on('error', () => undefined);
        response.on('close', () => signal?.removeEventListener('abort', onAbort));
        resolve({
          status: response.statusCode ?? 0,
          statusText: response.statusMessage ?? '',
          headers: normaliseHeaders(response.headers),
          body: readBody(response, url, () => reason),
          discard: () => {
            if (response.readableEnded || response.destroyed) return;
            // Parsed but unread, the body still holds the socket until its end is read: drain it, so
            // the connection goes back to the pool. A body still arriving is cut with its connection.
            if (response.complete) response.resume();
            else response.destroy();
          },
        });
      });
      request.end(body);
    });
  }

  /** Closes pooled connections so the process can exit. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

async function* readBody(
  response: http.IncomingMessage,
  url: URL,
  reason: () => Error | undefined,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of response) yield chunk as Buffer;
  } catch (error) {
    throw reason() ?? toNetworkError(error as NodeJS.ErrnoException, url);
  }
  // Node ends a body cut short without always raising an error (no Content-Length, chunked).
  if (!response.complete) {
    throw reason() ?? new NetworkError(`${url.host}: connection closed before the end of the body`);
  }
}

/** Reads a body to its end, keeping its first bytes as text. */
export async function readExcerpt(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of body) {
    if (kept < BODY_EXCERPT_BYTES) {
      chunks.push(chunk);
      kept += chunk.length;
    }
  }
  return Buffer.concat(chunks).subarray(0, BODY_EXCERPT_BYTES).toString('utf8');
}

function normaliseHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

function toNetworkError(error: NodeJS.ErrnoException, url: URL): NetworkError {
  if (error instanceof NetworkError) return error;
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (code !== undefined && TLS_CERT_CODES.has(code)) {
    return new NetworkError(
      `TLS certificate of ${url.host} not accepted (${code}: ${error.message}); use --insecure for a self-signed test server`,
      { cause: error, code, retryable: false },
    );
  }
  return new NetworkError(`${url.host}: ${error.message}${code === undefined ? '' : ` (${code})`}`, {
    cause: error,
    ...(code === undefined ? {} : { code }),
  });
}
