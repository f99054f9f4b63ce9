import type { ObjectMetadata } from '../ports/upload-store';

/**
 * Object metadata values travel as HTTP headers: printable ASCII, and S3 caps all user metadata at
 * 2 KB, so each client-supplied value is cut to a budget (owner 256 + path 1024 + name 512 bytes,
 * with the session id and names, stays under 2 KB). The key itself always holds the full path.
 */
function asciiMetadata(value: string, budget: number): string {
  const ascii = value.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
  return ascii.length <= budget ? ascii : `${ascii.slice(0, budget - 3)}...`;
}

/** What the finished object says about its session (README "S3 events and object metadata"). */
export interface ObjectOrigin {
  readonly sessionId: string;
  readonly principal: string;
  /** URL path the client named at Create-Session. */
  readonly originalPath: string;
  /** The client's file name (Content-Name), when it sent one. */
  readonly contentName: string | undefined;
  /** Epoch milliseconds of Create-Session. */
  readonly createdAt: number;
}

/**
 * The consumer contract, fixed at Create-Session (before the size and the completion time are
 * known: those come from the object and the S3 event). The 0-byte object that Close-Session writes
 * with PutObject carries the same fields, rebuilt from the session record.
 */
export function objectMetadata(origin: ObjectOrigin): ObjectMetadata {
  return {
    'bits-session-id': origin.sessionId,
    'bits-owner': asciiMetadata(origin.principal, 256),
    'bits-original-path': asciiMetadata(origin.originalPath, 1024),
    ...(origin.contentName === undefined
      ? {}
      : { 'bits-content-name': asciiMetadata(origin.contentName, 512) }),
    'bits-created-at': new Date(origin.createdAt).toISOString(),
  };
}
