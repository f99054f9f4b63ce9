import type { HeaderMap } from './headers';

/**
 * Upload-reply vocabulary (bits-protocol.md §7, README "Upload-reply and notifications"): where a
 * reply lives, how its URL looks, and the single byte ranges its downloads may ask for.
 */

/** The reply's file name inside its session folder, as IIS names it (RX-2). */
export const REPLY_FILE_NAME = 'responsefile.bin';

/**
 * Largest reply we hold: a download is one function response, at most 6 MB once base64-encoded
 * (platform.md §2). A larger reply is an application error (REPLY_TOO_LARGE).
 */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * Largest upload a by-value notification to a Lambda function may carry: base64 makes it 4/3
 * larger, and the event (with presigned URLs and metadata) must stay under the 6 MB synchronous
 * invoke payload. Larger declared sizes are refused at the first fragment (BG_E_TOO_LARGE).
 */
export const MAX_FUNCTION_BY_VALUE_BYTES = 4 * 1024 * 1024;

/** Longest reply URL a client accepts (MC-BUP §2.2.1.2: longer → E_INVALIDARG). */
export const MAX_REPLY_URL_CHARS = 2200;

/** Everything upload-reply stores for a session lives here; its cleanup deletes the folder whole. */
export const replyFolder = (replyPrefix: string, sessionId: string): string => `${replyPrefix}${sessionId}/`;

/**
 * One notification attempt's folder, named by the instant its claim runs to (unique per claim): a
 * request that outlived its claim writes only here, never where its successor does.
 */
export const attemptFolder = (replyPrefix: string, sessionId: string, attempt: number): string =>
  `${replyFolder(replyPrefix, sessionId)}${attempt}/`;

/** Where a by-reference application may write its reply in one attempt (its presigned PUT). */
export const applicationReplyKey = (replyPrefix: string, sessionId: string, attempt: number): string =>
  `${attemptFolder(replyPrefix, sessionId, attempt)}incoming.bin`;

/** The reply we serve: written by the server only, once, and read pinned to its ETag. */
export const servedReplyKey = (replyPrefix: string, sessionId: string, attempt: number): string =>
  `${attemptFolder(replyPrefix, sessionId, attempt)}${REPLY_FILE_NAME}`;

/**
 * BITS-Reply-URL of a reply we hold: relative, like IIS's, so the client resolves it against the
 * upload URL (RX-2) and the download reaches this same front, under the upload's own directory.
 * Forward slashes: IIS sent back-slashes, which only Windows' URL parser turns into slashes.
 */
export const replyUrlFor = (sessionId: string): string =>
  `BITS-Sessions/Replies/${sessionId}/${REPLY_FILE_NAME}`;

/** Any path ending in the reply shape, braces plain or percent-encoded; the GUID in any case. */
const REPLY_PATH =
  /\/BITS-Sessions\/Replies\/(?:\{|%7B)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\}|%7D)\/responsefile\.bin$/i;

/** The session id a reply download names, in canonical `{UPPER}` form, or undefined. */
export function parseReplyPath(path: string): string | undefined {
  const guid = REPLY_PATH.exec(path)?.[1];
  return guid === undefined ? undefined : `{${guid.toUpperCase()}}`;
}

/** Inclusive byte positions of a satisfiable range. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** What a Range header asks of a representation of `size` bytes (RFC 9110 §14.1–14.2). */
export type RangeRequest =
  | { readonly kind: 'whole' }
  | { readonly kind: 'range'; readonly range: ByteRange }
  | { readonly kind: 'unsatisfiable' };

const RANGE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

/**
 * One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`. A header we do not understand (another
 * unit, several ranges, garbage) is ignored and the whole reply sent, which RFC 9110 allows and
 * every download client handles; only a well-formed range starting past the reply is
 * unsatisfiable. Numbers of any length are fine (RFC 9110 §14.1.2): a last position past the end
 * means the end, a suffix longer than the reply means all of it. Above 2^53 a number loses
 * precision, but it is then far beyond any reply (4 MiB), which is all the comparisons need.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const match = RANGE.exec(header.trim());
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    // Suffix range: the last n bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', range: { start: Math.max(0, size - length), end: size - 1 } };
  }
  const start = Number(first);
  // `bytes=5-3` is syntactically invalid, so the header is ignored (RFC 9110 §14.1.1).
  if (last !== '' && Number(last) < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: 'range', range: { start, end } };
}

/**
 * The URL the client used, for the application (IIS's BITS-Original-Request-URL). The scheme comes
 * from the front (`X-Forwarded-Proto`, set by API Gateway, the ALB and the local server).
 */
export function originalRequestUrl(headers: HeaderMap, path: string): string {
  const forwarded = headers['x-forwarded-proto']?.split(',')[0]?.trim().toLowerCase();
  const scheme = forwarded === 'http' ? 'http' : 'https';
  return `${scheme}://${headers.host ?? 'localhost'}${path}`;
}

/**
 * A static reply URL from the application is sent to the client as the header value: absolute
 * http(s), printable ASCII (nothing that could split the response), at most 2,200 characters.
 */
export function isSendableReplyUrl(url: string): boolean {
  if (url.length > MAX_REPLY_URL_CHARS || !/^[\x21-\x7e]+$/.test(url)) return false;
  return /^https?:\/\/[^/?#]+/i.test(url);
}
