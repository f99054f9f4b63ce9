import type { HeaderMap } from './request-parser';

/** One complete request as the local front received it. */
export interface FrontRequest {
  readonly method: string;
  /** The request-target as sent: path plus optional `?query`. */
  readonly target: string;
  /** The target without its query string, still percent-encoded. */
  readonly path: string;
  /** Lower-case names; repeated fields joined with ", ". A prototype-less object. */
  readonly headers: HeaderMap;
  /** Field lines in arrival order, names as sent. */
  readonly rawHeaders: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  readonly remoteAddress: string;
}

/**
 * What the application answers. The front owns the framing headers: it writes Content-Length,
 * Date and Connection itself and ignores those (and Transfer-Encoding) if given here; a
 * `Connection: close` here still closes the connection after the answer.
 */
export interface FrontResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

export type RequestCallback = (request: FrontRequest) => Promise<FrontResponse>;
