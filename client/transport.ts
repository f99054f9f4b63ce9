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

  request(
    method: string,
    url: URL,
    headers: Readonly<Record<string, string>>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpAnswer> {
    if (signal?.aborted) return Promise.reject(new CancelledError('cancelled'));
    const secure = url.protocol === 'https:';
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      const fail = (error: Error): void => {
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
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept < BODY_EXCERPT_BYTES) {
            chunks.push(chunk);
            kept += chunk.length;
          }
        });
        response.on('error', (error: NodeJS.ErrnoException) => fail(toNetworkError(error, url)));
        // The whole body is read before answering, so the connection goes back to the pool.
        response.on('end', () => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          resolve({
            status: response.statusCode ?? 0,
            statusText: response.statusMessage ?? '',
            headers: normaliseHeaders(response.headers),
            bodyExcerpt: Buffer.concat(chunks).subarray(0, BODY_EXCERPT_BYTES).toString('utf8'),
          });
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
