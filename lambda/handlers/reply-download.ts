import { ObjectChangedError } from '../ports/errors';
import type { ObjectContent } from '../ports/upload-store';
import { HEADERS, type HeaderMap, RESPONSE_HEADERS } from '../protocol/headers';
import type { HttpResponse } from '../protocol/http';
import { originalRequestUrl, parseRange } from '../protocol/reply';
import type { HandlerDeps } from './types';

/** What a reply download needs of the request (GET or HEAD on a reply URL). */
export interface ReplyDownload {
  readonly method: 'GET' | 'HEAD';
  readonly path: string;
  readonly headers: HeaderMap;
  readonly principal: string;
  readonly sessionId: string;
}

/**
 * Every refusal looks the same: unknown, expired, another principal's, closed or cancelled
 * session, a static reply we do not hold. The URL is no oracle (README "Security").
 */
const NOT_FOUND: HttpResponse = {
  statusCode: 404,
  headers: { [RESPONSE_HEADERS.contentLength]: '0', 'Cache-Control': 'private' },
};

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * The recorded reply object, read pinned to its ETag: undefined when it is gone or another object
 * is there (which nothing should ever write), so a download never mixes two replies.
 */
async function readPinned(
  deps: HandlerDeps,
  held: { readonly key: string; readonly etag: string; readonly size: number },
  range: { readonly start: number; readonly end: number } | undefined,
): Promise<ObjectContent | undefined> {
  try {
    const content = await deps.uploads.readObject(held.key, range, held.etag);
    if (content === undefined || content.size === held.size) return content;
    await content.body[Symbol.asyncIterator]().return?.();
    return undefined;
  } catch (error) {
    if (!(error instanceof ObjectChangedError)) throw error;
    deps.logger.warn('reply object differs from the recorded one', { key: held.key, error });
    return undefined;
  }
}

/**
 * If-Range (RFC 9110 §13.1.5): a client resuming a download sends the validator it saw; when the
 * reply is not that one any more, the whole reply is sent instead of the range.
 */
function rangeHeader(headers: HeaderMap, etag: string, lastModified: string): string | undefined {
  const ifRange = headers['if-range']?.trim();
  if (ifRange !== undefined && ifRange !== etag && ifRange !== lastModified) return undefined;
  return headers[HEADERS.range];
}

/**
 * GET / HEAD of `…/BITS-Sessions/Replies/{id}/responsefile.bin` (bits-protocol.md §7 step 4): the
 * reply of an upload-reply session, as a BITS download needs it (HEAD with Content-Length, one byte
 * range per GET → 206, unsatisfiable → 416). Only the session's principal, only while the session
 * holds its reply (until Close-Session, Cancel-Session or expiry). The reply is at most 4 MiB, read
 * whole into one function response. Sizes and ranges come from the record, and the object is read
 * pinned to the recorded ETag, so HEAD and every GET describe the same bytes.
 */
export async function handleReplyDownload(download: ReplyDownload, deps: HandlerDeps): Promise<HttpResponse> {
  const session = await deps.sessions.getSession(download.sessionId);
  const held = session?.reply?.object;
  if (
    session === undefined ||
    held === undefined ||
    session.owner !== download.principal ||
    session.state !== 'closing' ||
    session.expiresAt <= deps.now()
  ) {
    return NOT_FOUND;
  }
  const lastModified = new Date(held.storedAt).toUTCString();
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Content-Location': originalRequestUrl(download.headers, download.path),
    'Accept-Ranges': 'bytes',
    ETag: held.etag,
    'Last-Modified': lastModified,
    // A reply belongs to one principal: shared caches must not keep it.
    'Cache-Control': 'private',
  };
  const wanted = parseRange(rangeHeader(download.headers, held.etag, lastModified), held.size);
  if (wanted.kind === 'unsatisfiable') {
    return {
      statusCode: 416,
      headers: { ...headers, 'Content-Range': `bytes */${held.size}`, [RESPONSE_HEADERS.contentLength]: '0' },
    };
  }
  const range = wanted.kind === 'range' ? wanted.range : undefined;
  const length = range === undefined ? held.size : range.end - range.start + 1;
  const status = range === undefined ? 200 : 206;
  if (range !== undefined) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${held.size}`;
  headers[RESPONSE_HEADERS.contentLength] = String(length);
  if (download.method === 'HEAD') return { statusCode: status, headers };
  // An empty reply has no byte to range over: S3 is not asked.
  if (length === 0) return { statusCode: status, headers, body: Buffer.alloc(0) };
  const content = await readPinned(deps, held, range);
  if (content === undefined) return NOT_FOUND;
  const body = await collect(content.body);
  // The pinned object has the recorded size, so the range read is exactly the length announced.
  if (body.length !== length) return NOT_FOUND;
  return { statusCode: status, headers, body };
}
