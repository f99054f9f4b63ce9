import { SessionExistsError } from '../ports/errors';
import type { Session } from '../ports/session-store';
import { principalKeyPrefix, toObjectKey } from '../protocol/destination';
import { BitsError } from '../protocol/errors';
import { HEADERS } from '../protocol/headers';
import type { BitsRequest } from '../protocol/request';
import { negotiateProtocol } from '../protocol/supported-protocols';
import { objectMetadata } from './object-metadata';
import { sessionExpiry } from './session-access';
import type { HandlerDeps, PacketHandler } from './types';

/**
 * The open-session limit per principal (IIS's BITSNumberOfSessionsLimit, bits-protocol.md §8).
 * Refused with 503, which a BITS job treats as transient: it retries later, when one of its other
 * sessions may have finished. The count comes from an eventually consistent index and is read
 * before the new session is written, so Create-Sessions racing each other can all pass: the limit
 * is approximate under races (README "Security").
 */
async function checkSessionLimit(request: BitsRequest, deps: HandlerDeps): Promise<void> {
  const limit = deps.config.maxSessionsPerPrincipal;
  if (limit === 0) return;
  const open = await deps.sessions.countOpenSessions(request.principal, deps.now());
  if (open >= limit) {
    throw new BitsError('SERVER_BUSY', `principal has ${open} open sessions, the limit is ${limit}`);
  }
}

/**
 * Stores the new session. When the SDK resent a PutItem whose first response was lost, the resend
 * finds the record already there: if it is ours (same upload), the session was created. An id
 * taken by another session (122 random bits colliding) aborts our upload and fails.
 */
async function recordSession(deps: HandlerDeps, session: Session): Promise<void> {
  try {
    await deps.sessions.createSession(session);
  } catch (error) {
    if (!(error instanceof SessionExistsError)) throw error;
    const stored = await deps.sessions.getSession(session.id);
    if (stored?.uploadId === session.uploadId) return;
    await deps.uploads.abortMultipartUpload({ key: session.key, uploadId: session.uploadId });
    throw new BitsError('INTERNAL', `session id ${session.id} already taken`, { cause: error });
  }
}

/**
 * Create-Session (MC-BUP §3.2.5.2.4): negotiate BITS 1.5, map the URL to a key (under the
 * principal's own folder with BITS_PRINCIPAL_PREFIX), apply the open-session limit, refuse an
 * existing destination early when overwrites are off (D5), start the multipart upload, then record
 * the session.
 */
export const handleCreateSession: PacketHandler = async (request, deps) => {
  const protocol = negotiateProtocol(request.headers[HEADERS.supportedProtocols]);
  const { keyPrefix, principalPrefix } = deps.config;
  const key = toObjectKey(
    request.path,
    principalPrefix ? principalKeyPrefix(keyPrefix, request.principal) : keyPrefix,
  );
  await checkSessionLimit(request, deps);
  if (!deps.config.allowOverwrites && (await deps.uploads.headObject(key)) !== undefined) {
    throw new BitsError('ACCESS_DENIED', `${key} exists and overwrites are off`);
  }
  const sessionId = deps.newSessionId();
  const contentName = request.headers[HEADERS.contentName];
  const now = deps.now();
  const upload = await deps.uploads.createMultipartUpload(
    key,
    objectMetadata({
      sessionId,
      principal: request.principal,
      originalPath: request.path,
      contentName,
      createdAt: now,
    }),
  );
  await recordSession(deps, {
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
    expiresAt: sessionExpiry(deps, now),
  });
  return { status: 200, sessionId, protocol };
};
