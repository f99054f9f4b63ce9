import type { HeaderMap } from './headers';

/** One HTTP request as any front delivered it, before BITS validation. */
export interface HttpRequest {
  readonly method: string;
  /** URL path, still percent-encoded, without the query string. */
  readonly path: string;
  readonly headers: HeaderMap;
  readonly body: Buffer;
  /** Identity asserted by the front (authorizer, mTLS), if any. */
  readonly principal?: string;
}

/** What a handler answers; the front adapter shapes it for API Gateway, ALB or the local server. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Only reply downloads have one (Acks are always empty, §12 D18). */
  readonly body?: Buffer;
}
