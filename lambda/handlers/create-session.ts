import { toObjectKey } from '../protocol/destination';
import { BitsError } from '../protocol/errors';
import { HEADERS } from '../protocol/headers';
import { negotiateProtocol } from '../protocol/supported-protocols';
import type { PacketHandler } from './types';

/** Object metadata values travel as HTTP headers: keep them printable ASCII. */
const asciiMetadata = (value: string): string =>
  value.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));

/**
 * Create-Session (MC-BUP §3.2.5.2.4): negotiate BITS 1.5, map the URL to a key, refuse an existing
 * destination early when overwrites are off (D5), start the multipart upload, then record the session.
 */
export const handleCreateSession: PacketHandler = async (request, deps) => {
  const protocol = negotiateProtocol(request.headers[HEADERS.supportedProtocols]);
  const key = toObjectKey(request.path, deps.config.keyPrefix);
  if (!deps.config.allowOverwrites && (await deps.uploads.headObject(key)) !== undefined) {
    throw new BitsError('ACCESS_DENIED', `${key} exists and overwrites are off`);
  }
  const sessionId = deps.newSessionId();
  const contentName = request.headers[HEADERS.contentName];
  const upload = await deps.uploads.createMultipartUpload(key, {
    'bits-session-id': sessionId,
    'bits-owner': asciiMetadata(request.principal),
    'bits-original-path': asciiMetadata(request.path),
    ...(contentName === undefined ? {} : { 'bits-content-name': asciiMetadata(contentName) }),
  });
  const now = deps.now();
  await deps.sessions.createSession({
    id: sessionId,
    key,
    originalPath: request.path,
    uploadId: upload.uploadId,
    owner: request.principal,
    state: 'open',
    nextOffset: 0,
    partsDone: 0,
    staged: [],
    createdAt: now,
    expiresAt: now + deps.config.sessionTimeoutSeconds * 1000,
  });
  return { status: 200, sessionId, protocol };
};
