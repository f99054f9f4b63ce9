import { partCount } from '../assembler/part-size';
import { DestinationExistsError, InvalidPartsError, UploadNotFoundError } from '../ports/errors';
import type { Session } from '../ports/session-store';
import { BitsError } from '../protocol/errors';
import { HEADERS } from '../protocol/headers';
import type { BitsAck } from '../protocol/response';
import { parseSessionId } from '../protocol/session-id';
import { discardSession, loadSession, releaseStorage, tombstoneExpiry } from './session-access';
import type { HandlerDeps, PacketHandler } from './types';

/** Discards the upload and answers with `error`: no partial or wrong object ever appears. */
async function refuse(deps: HandlerDeps, session: Session, error: BitsError): Promise<never> {
  await discardSession(deps, session);
  deps.metrics?.record('UploadsDiscarded', 1);
  throw error;
}

/**
 * The ordered part list for Complete: parts 1..n, each exactly P bytes but the last, adding up to
 * the declared total. Anything else (a race with Cancel, or competing requests that sent different
 * bytes for one range) never becomes an object.
 */
async function completedParts(deps: HandlerDeps, session: Session, total: number, partSize: number) {
  const parts = await deps.sessions.listParts(session.id);
  const expected = partCount(total, partSize);
  const sized = parts.every(
    (part, index) =>
      part.partNumber === index + 1 && part.size === Math.min(partSize, total - index * partSize),
  );
  if (parts.length === expected && sized) return parts.map(({ partNumber, etag }) => ({ partNumber, etag }));
  const current = await deps.sessions.getSession(session.id);
  if (current?.state !== 'closing') {
    throw new BitsError('SESSION_NOT_FOUND', `session ${session.id} ended during Close`);
  }
  return refuse(
    deps,
    session,
    new BitsError('INVALID_ARGUMENT', `session ${session.id} parts do not add up`),
  );
}

/** True when the object at the key is the one this session wrote (a retried Close after a lost ack). */
async function isOurs(deps: HandlerDeps, session: Session): Promise<boolean> {
  const existing = await deps.uploads.headObject(session.key);
  return existing?.metadata['bits-session-id'] === session.id;
}

/** Completes the object; safe to repeat after a crash or a lost ack at any step. */
async function commit(deps: HandlerDeps, session: Session): Promise<void> {
  const { totalSize, partSize } = session;
  const overwrite = { overwrite: deps.config.allowOverwrites };
  const upload = { key: session.key, uploadId: session.uploadId };
  try {
    if (totalSize === undefined || partSize === undefined) {
      // No fragment ever arrived: the client is finishing a 0-byte file (D9). Multipart needs a part.
      const metadata = { 'bits-session-id': session.id };
      await deps.uploads.putObject(session.key, new Uint8Array(0), metadata, overwrite);
      await deps.uploads.abortMultipartUpload(upload);
      return;
    }
    const parts = await completedParts(deps, session, totalSize, partSize);
    await deps.uploads.completeMultipartUpload(upload, parts, overwrite);
  } catch (error) {
    if (error instanceof UploadNotFoundError || error instanceof DestinationExistsError) {
      if (await isOurs(deps, session)) {
        if (totalSize === undefined) await deps.uploads.abortMultipartUpload(upload);
        return;
      }
      if (error instanceof UploadNotFoundError) {
        throw new BitsError('SESSION_NOT_FOUND', `upload of ${session.id} is gone`, { cause: error });
      }
      return refuse(
        deps,
        session,
        new BitsError('ACCESS_DENIED', `${session.key} appeared during the upload`),
      );
    }
    if (error instanceof InvalidPartsError) {
      return refuse(
        deps,
        session,
        new BitsError('INVALID_ARGUMENT', 'S3 refused the parts', { cause: error }),
      );
    }
    throw error;
  }
}

/**
 * Seals an open session at the offset Close read, so no fragment can commit after Close decided
 * what the object holds. Answers from the current state when something moved first.
 */
async function seal(deps: HandlerDeps, session: Session): Promise<Session | BitsAck> {
  if (session.state === 'closing') return session;
  const sealed = await deps.sessions.finishSession(session.id, 'closing', session.expiresAt, {
    nextOffset: session.nextOffset,
  });
  if (sealed.applied) return { ...session, state: 'closing', staged: [] };
  const current = sealed.current;
  if (current?.state === 'closed') return { status: 200, sessionId: session.id };
  if (current?.state === 'open' || current?.state === 'closing') return closeSession(deps, current);
  throw new BitsError('SESSION_NOT_FOUND', `session ${session.id} ended during Close`);
}

async function closeSession(deps: HandlerDeps, session: Session): Promise<BitsAck> {
  const sessionId = session.id;
  if (session.state === 'closed') {
    // A retried Close (lost ack) also finishes a cleanup the first one could not.
    await releaseStorage(deps, session).catch(() => undefined);
    return { status: 200, sessionId };
  }
  if (session.state === 'cancelled')
    throw new BitsError('SESSION_NOT_FOUND', `session ${sessionId} cancelled`);
  if (session.totalSize !== undefined && session.nextOffset < session.totalSize) {
    const error = new BitsError(
      'INVALID_ARGUMENT',
      `close at ${session.nextOffset} of ${session.totalSize} bytes`,
    );
    return refuse(deps, session, error);
  }
  const sealed = await seal(deps, session);
  if (!('id' in sealed)) return sealed;
  await commit(deps, sealed);
  const finished = await deps.sessions.finishSession(sessionId, 'closed', tombstoneExpiry(deps));
  // A concurrent Close that got there first counts the upload; this one does not count it again.
  if (finished.applied) {
    deps.metrics?.record('UploadsCompleted', 1);
    deps.metrics?.record('UploadBytes', session.totalSize ?? 0);
  }
  await releaseStorage(deps, session).catch((error: unknown) =>
    deps.logger.warn('cleanup after close failed; a retried Close or the sweeper removes the rest', {
      sessionId,
      error,
    }),
  );
  return { status: 200, sessionId };
}

/**
 * Close-Session (MC-BUP §3.2.5.2.7): the object appears at its key only here, through Complete.
 * Incomplete uploads are discarded (D9); a repeated Close on a closed session is acked again (D12).
 */
export const handleCloseSession: PacketHandler = async (request, deps) => {
  const sessionId = parseSessionId(request.headers[HEADERS.sessionId]);
  return closeSession(deps, await loadSession(deps, sessionId, request.principal));
};
