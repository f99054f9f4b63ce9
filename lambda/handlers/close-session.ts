import { partCount } from '../assembler/part-size';
import { DestinationExistsError, UploadNotFoundError } from '../ports/errors';
import type { Session } from '../ports/session-store';
import { BitsError } from '../protocol/errors';
import { HEADERS } from '../protocol/headers';
import { parseSessionId } from '../protocol/session-id';
import { discardSession, loadSession, releaseStorage, tombstoneExpiry } from './session-access';
import type { HandlerDeps, PacketHandler } from './types';

/** Builds the ordered part list for Complete, refusing a gap or a surplus (never a partial object). */
async function completedParts(deps: HandlerDeps, session: Session, total: number, partSize: number) {
  const parts = await deps.sessions.listParts(session.id);
  const expected = partCount(total, partSize);
  const contiguous = parts.length === expected && parts.every((part, index) => part.partNumber === index + 1);
  if (!contiguous)
    throw new BitsError('INTERNAL', `session ${session.id} has ${parts.length}/${expected} parts`);
  return parts.map(({ partNumber, etag }) => ({ partNumber, etag }));
}

/** Completes the object. A retried Close after a lost ack finds the upload gone but the object ours. */
async function commit(deps: HandlerDeps, session: Session): Promise<void> {
  const { totalSize, partSize } = session;
  const overwrite = { overwrite: deps.config.allowOverwrites };
  const upload = { key: session.key, uploadId: session.uploadId };
  try {
    if (totalSize === undefined || partSize === undefined) {
      // No fragment ever arrived: the client is finishing a 0-byte file (D9). Multipart needs a part.
      await deps.uploads.putObject(
        session.key,
        new Uint8Array(0),
        { 'bits-session-id': session.id },
        overwrite,
      );
      await deps.uploads.abortMultipartUpload(upload);
      return;
    }
    await deps.uploads.completeMultipartUpload(
      upload,
      await completedParts(deps, session, totalSize, partSize),
      overwrite,
    );
  } catch (error) {
    if (error instanceof UploadNotFoundError) {
      const existing = await deps.uploads.headObject(session.key);
      if (existing?.metadata['bits-session-id'] === session.id) return;
      throw new BitsError('SESSION_NOT_FOUND', `upload of ${session.id} is gone`, { cause: error });
    }
    if (error instanceof DestinationExistsError) {
      await discardSession(deps, session);
      throw new BitsError('ACCESS_DENIED', `${session.key} appeared during the upload`, { cause: error });
    }
    throw error;
  }
}

/**
 * Close-Session (MC-BUP §3.2.5.2.7): the object appears at its key only here, through Complete.
 * Incomplete uploads are discarded (D9); a repeated Close on a closed session is acked again (D12).
 */
export const handleCloseSession: PacketHandler = async (request, deps) => {
  const sessionId = parseSessionId(request.headers[HEADERS.sessionId]);
  const session = await loadSession(deps, sessionId, request.principal);
  if (session.state === 'closed') return { status: 200, sessionId };
  if (session.state === 'cancelled')
    throw new BitsError('SESSION_NOT_FOUND', `session ${sessionId} cancelled`);
  if (session.totalSize !== undefined && session.nextOffset < session.totalSize) {
    await discardSession(deps, session);
    throw new BitsError('INVALID_ARGUMENT', `close at ${session.nextOffset} of ${session.totalSize} bytes`);
  }
  await commit(deps, session);
  await deps.sessions.finishSession(sessionId, 'closed', tombstoneExpiry(deps));
  await releaseStorage(deps, session).catch((error: unknown) =>
    deps.logger.warn('cleanup after close failed; lifecycle rules will remove the rest', {
      sessionId,
      error,
    }),
  );
  return { status: 200, sessionId };
};
