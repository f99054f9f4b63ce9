import { discardSession, releaseStorage, sessionExpiry } from '../handlers/session-access';
import type { HandlerDeps } from '../handlers/types';
import { StagedChunkMissingError, UploadNotFoundError } from '../ports/errors';
import type { Session, StagedChunk } from '../ports/session-store';
import { BitsError } from '../protocol/errors';
import { choosePartSize } from './part-size';
import { type FragmentPlan, planFragment } from './plan-fragment';
import { chunkMatches, describeChunk, stagingFolder } from './staging';

/** What happened to the new bytes: committed, or the session moved under us (a lost race). */
export type StoreOutcome =
  | { readonly committed: true }
  | { readonly committed: false; readonly current?: Session };

const lostRace = (current?: Session): StoreOutcome => ({ committed: false, ...(current ? { current } : {}) });

async function readChunk(deps: HandlerDeps, chunk: StagedChunk): Promise<Uint8Array> {
  const bytes = await deps.uploads.getStagedChunk(chunk.key);
  if (!chunkMatches(chunk, bytes))
    throw new StagedChunkMissingError(`${chunk.key} does not match its record`);
  return bytes;
}

/** Reads the staged chunks the plan consumes and joins them with the new bytes. */
async function gather(deps: HandlerDeps, plan: FragmentPlan, fresh: Buffer, nextOffset: number) {
  const bodies = await Promise.all(plan.reads.map((chunk) => readChunk(deps, chunk)));
  const buffer = bodies.length === 0 ? fresh : Buffer.concat([...bodies, fresh]);
  const origin = plan.reads[0]?.start ?? nextOffset;
  return (start: number, end: number) => buffer.subarray(start - origin, end - origin);
}

/**
 * A staged chunk this session's record names is gone. If the session moved on, a concurrent winner
 * consumed it: answer from the current state. If not, the data is lost (removed behind our back):
 * answering 416 at the same offset would stall the client forever, so the session is discarded and
 * the client starts over.
 */
async function chunkMissing(deps: HandlerDeps, session: Session, cause: unknown): Promise<StoreOutcome> {
  const current = await deps.sessions.getSession(session.id);
  const unchanged = current?.state === 'open' && current.nextOffset === session.nextOffset;
  if (!unchanged) {
    deps.metrics?.record('CommitConflicts', 1);
    return lostRace(current);
  }
  await discardSession(deps, session);
  throw new BitsError('SESSION_NOT_FOUND', `staged data of ${session.id} is gone`, { cause });
}

/**
 * A request that lost its commit to a Close or Cancel may have written a part record or a staged
 * object after that request cleaned up: remove them again (a session still being closed is left
 * alone, its Close owns the parts).
 */
async function cleanUpAfterLoss(deps: HandlerDeps, current: Session | undefined, id: string): Promise<void> {
  if (current?.state !== 'closed' && current?.state !== 'cancelled') return;
  await releaseStorage(deps, current).catch((error: unknown) =>
    deps.logger.warn('cleanup after a late fragment failed', { sessionId: id, error }),
  );
}

/**
 * Stores the bytes [nextOffset, nextOffset + fresh.length) of an open session (design.md steps 4–7):
 * parts and the staged object are written under deterministic numbers and keys BEFORE the one
 * conditional session update that references them; objects the update made obsolete are deleted
 * only after it. A crash between any two calls leaves only unreferenced objects, which a retry
 * rewrites with the same bytes or the session's cleanup removes.
 */
export async function storeFragment(
  deps: HandlerDeps,
  session: Session,
  total: number,
  fresh: Buffer,
): Promise<StoreOutcome> {
  const partSize = session.partSize ?? choosePartSize(total, deps.config.partSize);
  const plan = planFragment({
    total,
    partSize,
    partsDone: session.partsDone,
    nextOffset: session.nextOffset,
    staged: session.staged,
    freshLength: fresh.length,
  });
  let slice: (start: number, end: number) => Buffer;
  try {
    slice = await gather(deps, plan, fresh, session.nextOffset);
  } catch (error) {
    if (error instanceof StagedChunkMissingError) return chunkMissing(deps, session, error);
    throw error;
  }
  const upload = { key: session.key, uploadId: session.uploadId };
  for (const part of plan.parts) {
    const body = slice(part.start, part.end);
    const etag = await deps.uploads.uploadPart(upload, part.partNumber, body).catch((error: unknown) => {
      if (error instanceof UploadNotFoundError) {
        throw new BitsError('SESSION_NOT_FOUND', `upload of ${session.id} is gone`, { cause: error });
      }
      throw error;
    });
    await deps.sessions.putPart(session.id, { partNumber: part.partNumber, etag, size: body.length });
  }
  if (plan.parts.length > 0) deps.metrics?.record('PartsUploaded', plan.parts.length);
  let staged = plan.keep;
  if (plan.stage !== undefined) {
    const bytes = slice(plan.stage.start, plan.stage.end);
    const chunk = describeChunk(stagingFolder(deps.config.stagingPrefix, session.id), plan.stage, bytes);
    await deps.uploads.putStagedChunk(chunk.key, bytes);
    deps.metrics?.record('StagedBytes', bytes.length);
    staged = [...plan.keep, chunk];
  }
  // Staged chunks read back and rewritten, into a part or a merged chunk (compaction).
  if (plan.reads.length > 0) deps.metrics?.record('MergedChunks', plan.reads.length);
  const now = deps.now();
  const result = await deps.sessions.advanceSession(
    session.id,
    { nextOffset: session.nextOffset, now },
    {
      totalSize: total,
      partSize,
      nextOffset: session.nextOffset + fresh.length,
      partsDone: plan.partsDone,
      staged,
      expiresAt: sessionExpiry(deps, session.createdAt),
    },
  );
  if (!result.applied) {
    deps.metrics?.record('CommitConflicts', 1);
    await cleanUpAfterLoss(deps, result.current, session.id);
    return lostRace(result.current);
  }
  deps.metrics?.record('BytesCommitted', fresh.length);
  if (plan.reads.length > 0) {
    await deps.uploads
      .deleteStagedChunks(plan.reads.map((chunk) => chunk.key))
      .catch((error: unknown) =>
        deps.logger.warn('staged chunk cleanup failed', { sessionId: session.id, error }),
      );
  }
  return { committed: true };
}
