import { discardSession, releaseStorage, sessionExpiry } from '../handlers/session-access';
import type { HandlerDeps } from '../handlers/types';
import { StagedChunkMissingError, UploadNotFoundError } from '../ports/errors';
import type { Session, StagedChunk } from '../ports/session-store';
import { BitsError } from '../protocol/errors';
import { type HeldPart, holdsChunks } from './part-buffers';
import { choosePartSize } from './part-size';
import { type FragmentPlan, type PlannedChunk, type PlannedPart, planFragment } from './plan-fragment';
import { describeChunk, stagedChunkKey, stagingFolder } from './staging';

/** What happened to the new bytes: committed (with the record as written), or a lost race. */
export type StoreOutcome =
  | { readonly committed: true; readonly session: Session }
  | { readonly committed: false; readonly current?: Session };

/** The race was lost: the cache keeps the state that won, which is the latest there is. */
function lostRace(deps: HandlerDeps, id: string, current: Session | undefined): StoreOutcome {
  if (current === undefined) deps.sessionCache?.delete(id);
  else deps.sessionCache?.set(current);
  return { committed: false, ...(current ? { current } : {}) };
}

/** Bytes [start, end) of the file, from wherever the plan keeps them. */
type Slice = (start: number, end: number) => Buffer;

/**
 * Waits for every call, then rethrows the first failure. Nothing may still be writing once the
 * request answers: a late part record or staged object could land after a Cancel cleaned up.
 */
async function settled<T>(calls: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}

async function readChunkInto(
  deps: HandlerDeps,
  key: string,
  chunk: StagedChunk,
  into: Buffer,
): Promise<void> {
  const read = await deps.uploads.readStagedChunk(key, into);
  if (read.length !== chunk.end - chunk.start || read.sha256 !== chunk.checksum) {
    throw new StagedChunkMissingError(`${key} does not match its record`);
  }
  deps.metrics?.record('StagedBytesRead', read.length);
}

/** The assembled bytes: a view for each output, and the buffer holding [origin, until), if any. */
interface Assembled {
  readonly slice: Slice;
  readonly buffer?: Buffer;
  /** The buffer is a view of the held part's buffer (nothing was read). */
  readonly inPlace?: boolean;
}

/**
 * Reads the staged chunks the plan consumes into one buffer that ends where the first output holding
 * them ends (the first part, or the merged chunk), followed by the new bytes up to there. Nothing
 * else is copied: outputs past that point are views of the fragment's body. So a fragment holds at
 * most one part and its own body, and never a chunk and its concatenation at once. When this
 * environment holds the session's part (`held`, checked against the record), the chunks are
 * already in place there and nothing is read.
 */
async function assemble(
  deps: HandlerDeps,
  folder: string,
  plan: FragmentPlan,
  fresh: Buffer,
  nextOffset: number,
  held: HeldPart | undefined,
): Promise<Assembled> {
  // Every output must lie in bytes this request holds: a record whose staged chunks do not cover
  // everything from the first output to the offset is refused rather than filled with other bytes.
  const fromFresh: Slice = (start, end) => {
    if (start < nextOffset || end - nextOffset > fresh.length) {
      throw new Error(`staged chunks do not hold ${start}-${end} (offset ${nextOffset})`);
    }
    return fresh.subarray(start - nextOffset, end - nextOffset);
  };
  const origin = plan.reads[0]?.start;
  if (origin === undefined) return { slice: fromFresh };
  const until = plan.parts[0]?.end ?? plan.stage?.end ?? nextOffset;
  const first = plan.parts[0]?.start ?? plan.stage?.start;
  // The record's chunks must tile [first output, nextOffset) exactly: every byte of the buffer is
  // then written below, and no uninitialised memory can reach a part.
  if (first !== origin) throw new Error(`staged chunks start at ${origin}, the output at ${first}`);
  let cursor = origin;
  for (const chunk of plan.reads) {
    if (chunk.start !== cursor || chunk.end <= chunk.start)
      throw new Error(`staged chunks broken at ${cursor}`);
    cursor = chunk.end;
  }
  if (cursor !== nextOffset || until <= nextOffset || until - nextOffset > fresh.length) {
    throw new Error(`staged chunks end at ${cursor}, expected ${nextOffset} before ${until}`);
  }
  const inPlace = held !== undefined && held.origin <= origin && until - held.origin <= held.buffer.length;
  const buffer = inPlace
    ? held.buffer.subarray(origin - held.origin, until - held.origin)
    : Buffer.allocUnsafe(until - origin);
  if (!inPlace) {
    await settled(
      plan.reads.map((chunk) =>
        readChunkInto(
          deps,
          stagedChunkKey(folder, chunk),
          chunk,
          buffer.subarray(chunk.start - origin, chunk.end - origin),
        ),
      ),
    );
  }
  fresh.copy(buffer, nextOffset - origin, 0, until - nextOffset);
  const slice: Slice = (start, end) => {
    if (end <= until) return buffer.subarray(start - origin, end - origin);
    if (start >= until) return fromFresh(start, end);
    throw new Error(`range ${start}-${end} straddles the assembled bytes`);
  };
  return { slice, buffer, inPlace };
}

/** UploadPart, then its PART# record (which needs the ETag and the checksum). */
async function storePart(
  deps: HandlerDeps,
  session: Session,
  part: PlannedPart,
  body: Buffer,
): Promise<void> {
  const upload = { key: session.key, uploadId: session.uploadId };
  const uploaded = await deps.uploads.uploadPart(upload, part.partNumber, body);
  await deps.sessions.putPart(session.id, {
    partNumber: part.partNumber,
    etag: uploaded.etag,
    size: body.length,
    // Complete passes the parts' checksums on, for the object's full-object checksum.
    ...(uploaded.checksum === undefined ? {} : { checksum: uploaded.checksum }),
  });
}

/** Writes the one staged object of the plan; its key and checksum come from its bytes. */
async function storeStage(
  deps: HandlerDeps,
  folder: string,
  stage: PlannedChunk,
  bytes: Buffer,
): Promise<StagedChunk> {
  const chunk = describeChunk(stage, bytes);
  await deps.uploads.putStagedChunk(stagedChunkKey(folder, chunk), bytes, chunk.checksum);
  deps.metrics?.record('StagedBytes', bytes.length);
  return chunk;
}

/**
 * Every write the plan needs before the commit, concurrently where no write needs another's result:
 * when parts are uploaded the staged object holds only new bytes, so it is written while the staged
 * chunks are read and the parts uploaded; a merge has to read before it writes.
 */
async function writeAll(
  deps: HandlerDeps,
  session: Session,
  plan: FragmentPlan,
  fresh: Buffer,
  held: HeldPart | undefined,
): Promise<{ readonly chunk: StagedChunk | undefined; readonly assembled: Assembled }> {
  const { stage } = plan;
  const folder = stagingFolder(deps.config.stagingPrefix, session.id);
  const assembling = assemble(deps, folder, plan, fresh, session.nextOffset, held);
  const uploads = assembling.then(({ slice }) =>
    settled(plan.parts.map((part) => storePart(deps, session, part, slice(part.start, part.end)))),
  );
  const staging =
    stage === undefined
      ? Promise.resolve(undefined)
      : plan.parts.length > 0 || plan.reads.length === 0
        ? storeStage(deps, folder, stage, fresh.subarray(stage.start - session.nextOffset))
        : assembling.then(({ slice }) => storeStage(deps, folder, stage, slice(stage.start, stage.end)));
  const [, chunk, assembled] = await settled<unknown>([uploads, staging, assembling]);
  if (plan.parts.length > 0) deps.metrics?.record('PartsUploaded', plan.parts.length);
  // Staged chunks consumed and rewritten, into a part or a merged chunk (compaction).
  if (plan.reads.length > 0) deps.metrics?.record('MergedChunks', plan.reads.length);
  return { chunk: chunk as StagedChunk | undefined, assembled: assembled as Assembled };
}

/**
 * A staged chunk this session's record names, or its multipart upload, is gone. If the session moved
 * on, a concurrent winner consumed it or a Close or Cancel ended the session: answer from the current
 * state. If not, the data is lost (removed behind our back): answering 416 at the same offset would
 * stall the client forever, so the session is discarded and the client starts over.
 */
async function storageMissing(deps: HandlerDeps, session: Session, cause: unknown): Promise<StoreOutcome> {
  const current = await deps.sessions.getSession(session.id);
  const unchanged = current?.state === 'open' && current.nextOffset === session.nextOffset;
  if (!unchanged) {
    deps.metrics?.record('CommitConflicts', 1);
    // The staged object may have been written meanwhile (it is written while chunks are read).
    await cleanUpAfterLoss(deps, current, session.id);
    return lostRace(deps, session.id, current);
  }
  deps.sessionCache?.delete(session.id);
  await discardSession(deps, session);
  const what = cause instanceof UploadNotFoundError ? 'upload' : 'staged data';
  throw new BitsError('SESSION_NOT_FOUND', `${what} of ${session.id} is gone`, { cause });
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

/** The part buffer taken out for `session`, if it holds exactly the bytes of the record's staged chunks. */
function usableHeld(held: HeldPart | undefined, session: Session, partSize: number): HeldPart | undefined {
  if (held === undefined) return undefined;
  return held.origin === session.partsDone * partSize && holdsChunks(held, session.staged) ? held : undefined;
}

/**
 * What this environment keeps of the session's current part after a commit, so that the next
 * fragments of the part need not read their staged chunks back (part-buffers.ts): the bytes of every
 * chunk the record now names, at their places in a buffer as long as the part. Undefined when the
 * file is complete, or when this request did not have the part's earlier bytes.
 */
function nextHeld(
  session: Session,
  plan: FragmentPlan,
  fresh: Buffer,
  assembled: Assembled,
  held: HeldPart | undefined,
  staged: readonly StagedChunk[],
  partSize: number,
  total: number,
): HeldPart | undefined {
  const origin = plan.partsDone * partSize;
  if (origin >= total) return undefined;
  const length = Math.min(partSize, total - origin);
  const reusable = (buffer: Buffer | undefined) => buffer !== undefined && buffer.length >= length;
  const keep = (buffer: Buffer): HeldPart => ({ sessionId: session.id, origin, buffer, chunks: staged });
  if (plan.parts.length > 0) {
    // Every staged chunk went into the parts (uploaded by now); a new chunk holds only new bytes.
    const buffer = [held?.buffer, assembled.buffer].find(reusable) ?? Buffer.allocUnsafe(length);
    if (plan.stage !== undefined) fresh.copy(buffer, 0, plan.stage.start - session.nextOffset);
    return keep(buffer);
  }
  if (held === undefined) {
    if (session.staged.length > 0) return undefined;
    const buffer = Buffer.allocUnsafe(length);
    fresh.copy(buffer, session.nextOffset - origin);
    return keep(buffer);
  }
  // The new bytes follow the held ones; a merge has them in its assembled buffer already.
  const first = plan.reads[0];
  if (first === undefined) fresh.copy(held.buffer, session.nextOffset - origin);
  else if (!assembled.inPlace) assembled.buffer?.copy(held.buffer, first.start - origin);
  return keep(held.buffer);
}

/** The expiry moves forward in steps of at most a minute (a 64th of shorter timeouts). */
const MAX_EXPIRY_STEP_MS = 60_000;

/**
 * The session's new expiry, or undefined to keep the stored one. expiresAt sorts the owner index,
 * so each change rewrites the session's index entry (a delete and a put: two more write units
 * than the update itself); the expiry therefore moves only once it would move by a step, and an
 * idle session expires between timeout − step and timeout after its last progress.
 */
function refreshedExpiry(deps: HandlerDeps, session: Session): number | undefined {
  const next = sessionExpiry(deps, session.createdAt);
  const step = Math.min((deps.config.sessionTimeoutSeconds * 1000) / 64, MAX_EXPIRY_STEP_MS);
  return next - session.expiresAt >= step ? next : undefined;
}

/**
 * Stores the bytes [nextOffset, nextOffset + fresh.length) of an open session (design.md steps 4–7):
 * parts and the staged object are written under deterministic numbers and keys BEFORE the one
 * conditional session update that references them; objects the update made obsolete are deleted
 * only after it. A crash between any two calls leaves only unreferenced objects, which a retry
 * rewrites with the same bytes or the session's cleanup removes.
 *
 * `session` may come from a cache and be stale: every write before the commit is then either the
 * same bytes under the same part number or key, or an object no record references, and the commit
 * is conditional on the offset it was planned from, so a stale plan can only lose the race.
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
  const held = usableHeld(deps.partBuffers?.take(session.id), session, partSize);
  let written: Awaited<ReturnType<typeof writeAll>>;
  try {
    written = await writeAll(deps, session, plan, fresh, held);
  } catch (error) {
    if (error instanceof StagedChunkMissingError || error instanceof UploadNotFoundError) {
      return storageMissing(deps, session, error);
    }
    throw error;
  }
  const { chunk } = written;
  const expiresAt = refreshedExpiry(deps, session);
  const progress = {
    totalSize: total,
    partSize,
    nextOffset: session.nextOffset + fresh.length,
    partsDone: plan.partsDone,
    staged: chunk === undefined ? plan.keep : [...plan.keep, chunk],
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
  const result = await deps.sessions.advanceSession(
    session.id,
    { nextOffset: session.nextOffset, now: deps.now() },
    progress,
  );
  if (!result.applied) {
    deps.metrics?.record('CommitConflicts', 1);
    await cleanUpAfterLoss(deps, result.current, session.id);
    return lostRace(deps, session.id, result.current);
  }
  const buffers = deps.partBuffers;
  const next =
    buffers?.accepts(Math.min(partSize, total)) === true
      ? nextHeld(session, plan, fresh, written.assembled, held, progress.staged, partSize, total)
      : undefined;
  if (next !== undefined) buffers?.put(next);
  const committed: Session = { ...session, ...progress };
  deps.sessionCache?.set(committed);
  deps.metrics?.record('BytesCommitted', fresh.length);
  if (plan.reads.length > 0) {
    await deps.uploads
      .deleteStagedChunks(
        plan.reads.map((read) => stagedChunkKey(stagingFolder(deps.config.stagingPrefix, session.id), read)),
      )
      .catch((error: unknown) =>
        deps.logger.warn('staged chunk cleanup failed', { sessionId: session.id, error }),
      );
  }
  return { committed: true, session: committed };
}
