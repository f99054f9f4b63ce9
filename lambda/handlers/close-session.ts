import type { Session } from '../ports/session-store';
import { BitsError } from '../protocol/errors';
import { HEADERS } from '../protocol/headers';
import type { BitsAck } from '../protocol/response';
import { parseSessionId } from '../protocol/session-id';
import { commitUpload, refuse } from './complete-upload';
import { loadSession, releaseStorage, tombstoneExpiry } from './session-access';
import type { HandlerDeps, PacketHandler } from './types';

/**
 * Seals an open session at the offset Close read, so no fragment can commit after Close decided
 * what the object holds. Answers from the current state when something moved first.
 */
async function seal(
  deps: HandlerDeps,
  session: Session,
  contentName: string | undefined,
): Promise<Session | BitsAck> {
  if (session.state === 'closing') return session;
  const sealed = await deps.sessions.finishSession(session.id, 'closing', session.expiresAt, {
    nextOffset: session.nextOffset,
  });
  if (sealed.applied) return { ...session, state: 'closing', staged: [] };
  const current = sealed.current;
  if (current?.state === 'closed') return { status: 200, sessionId: session.id };
  if (current?.state === 'open' || current?.state === 'closing')
    return closeSession(deps, current, contentName);
  throw new BitsError('SESSION_NOT_FOUND', `session ${session.id} ended during Close`);
}

/** `contentName`: the Close-Session's Content-Name, the file name a 0-byte object records. */
async function closeSession(
  deps: HandlerDeps,
  session: Session,
  contentName: string | undefined,
): Promise<BitsAck> {
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
  const sealed = await seal(deps, session, contentName);
  if (!('id' in sealed)) return sealed;
  // An upload-reply session holding its reply was completed by its final fragment already.
  if (sealed.reply === undefined) await commitUpload(deps, sealed, contentName);
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
 * Close-Session (MC-BUP §3.2.5.2.7): the object appears at its key only here, through Complete (or,
 * for upload-reply sessions, at the final fragment; Close then deletes the reply, §2.4). Incomplete
 * uploads are discarded (D9); a repeated Close on a closed session is acked again (D12).
 */
export const handleCloseSession: PacketHandler = async (request, deps) => {
  const sessionId = parseSessionId(request.headers[HEADERS.sessionId]);
  const session = await loadSession(deps, sessionId, request.principal);
  return closeSession(deps, session, request.headers[HEADERS.contentName]);
};
