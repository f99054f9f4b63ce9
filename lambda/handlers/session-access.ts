import { stagingFolder } from '../assembler/staging';
import type { Session } from '../ports/session-store';
import { BitsError } from '../protocol/errors';
import { replyFolder } from '../protocol/reply';
import type { HandlerDeps } from './types';

/**
 * Loads a session the caller may use. Unknown, expired and other principals' sessions all look the
 * same to the client: BG_E_SESSION_NOT_FOUND (§12 D12), so an id is no oracle.
 */
export async function loadSession(deps: HandlerDeps, id: string, principal: string): Promise<Session> {
  const session = await deps.sessions.getSession(id);
  if (session === undefined || session.owner !== principal || session.expiresAt <= deps.now()) {
    throw new BitsError('SESSION_NOT_FOUND', `session ${id} unknown, expired or foreign`);
  }
  return session;
}

/** Like loadSession, but only an open session will do (Fragment). */
export async function loadOpenSession(deps: HandlerDeps, id: string, principal: string): Promise<Session> {
  const session = await loadSession(deps, id, principal);
  if (session.state !== 'open') throw new BitsError('SESSION_NOT_FOUND', `session ${id} is ${session.state}`);
  return session;
}

/**
 * When an open session expires: the idle timeout after its last progress (D21), but never later
 * than the maximum session age after its creation, because the bucket's lifecycle rules (abort
 * incomplete uploads, expire staged chunks) count from creation and must never remove the storage
 * of a session that is still open.
 */
export const sessionExpiry = (deps: HandlerDeps, createdAt: number): number =>
  Math.min(
    deps.now() + deps.config.sessionTimeoutSeconds * 1000,
    createdAt + deps.config.maxSessionAgeSeconds * 1000,
  );

/** The retention of a closed or cancelled record, so a retried Close/Cancel is acked again. */
export const tombstoneExpiry = (deps: HandlerDeps): number =>
  deps.now() + deps.config.tombstoneSeconds * 1000;

/**
 * Removes every staged object and part record of a session, and its upload-reply folder (after
 * Close, Cancel, discard or the sweeper's expiry). The folder is deleted whenever notifications
 * are on, a reply recorded or not: a request that died between the application's answer and
 * recording it, or an application writing through its link late, leaves objects there. The
 * completed object is never touched.
 */
export async function releaseStorage(deps: HandlerDeps, session: Session): Promise<void> {
  deps.partBuffers?.delete(session.id);
  await deps.uploads.deleteStagingPrefix(stagingFolder(deps.config.stagingPrefix, session.id));
  await deps.sessions.deleteParts(session.id);
  if (deps.config.notificationType !== 'none' || session.reply !== undefined) {
    await deps.uploads.deleteReplyFolder(replyFolder(deps.config.replyPrefix, session.id));
  }
}

/**
 * Throws the upload away (Cancel-Session, sweeper). For an upload-reply session past its final
 * fragment the object is complete and stays (§2.5): the abort finds no upload, and only the reply
 * goes, with the rest of the session's storage. Abort first, so that a crash before the state change leaves a session
 * whose next fragment finds no upload (session not found); change the state before deleting, so
 * that a fragment still in flight either fails its commit and cleans up after itself
 * (store-fragment.ts) or wrote before the deletion.
 */
export async function discardSession(deps: HandlerDeps, session: Session): Promise<void> {
  await deps.uploads.abortMultipartUpload({ key: session.key, uploadId: session.uploadId });
  await deps.sessions.finishSession(session.id, 'cancelled', tombstoneExpiry(deps));
  await releaseStorage(deps, session);
}
