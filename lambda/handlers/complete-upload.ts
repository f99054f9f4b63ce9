import { partCount } from '../assembler/part-size';
import { DestinationExistsError, InvalidPartsError, UploadNotFoundError } from '../ports/errors';
import type { Session } from '../ports/session-store';
import { BitsError } from '../protocol/errors';
import { objectMetadata } from './object-metadata';
import { discardSession } from './session-access';
import type { HandlerDeps } from './types';

/**
 * Completing a sealed (`closing`) session's object at its key: Close-Session does it for plain
 * uploads, the final Fragment for upload-reply sessions (§12 D16). Either way the object appears
 * only through Complete, whole, and a repeat after a crash or a lost ack is harmless.
 */

/** Discards the upload and answers with `error`: no partial or wrong object ever appears. */
export async function refuse(deps: HandlerDeps, session: Session, error: BitsError): Promise<never> {
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
  if (parts.length === expected && sized) {
    return parts.map(({ partNumber, etag, checksum }) => ({
      partNumber,
      etag,
      ...(checksum === undefined ? {} : { checksum }),
    }));
  }
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

/**
 * Completes the object of a sealed session; safe to repeat after a crash or a lost ack at any step.
 * `contentName` is the Content-Name of the request that closes (Windows sends it on Close-Session):
 * only a 0-byte object, written here rather than at Create-Session, takes its metadata from it.
 */
export async function commitUpload(deps: HandlerDeps, session: Session, contentName?: string): Promise<void> {
  const { totalSize, partSize } = session;
  const overwrite = { overwrite: deps.config.allowOverwrites };
  const upload = { key: session.key, uploadId: session.uploadId };
  try {
    if (totalSize === undefined || partSize === undefined) {
      // No fragment ever arrived: the client is finishing a 0-byte file (D9). Multipart needs a part.
      const metadata = objectMetadata({
        sessionId: session.id,
        principal: session.owner,
        originalPath: session.originalPath,
        contentName,
        createdAt: session.createdAt,
      });
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
