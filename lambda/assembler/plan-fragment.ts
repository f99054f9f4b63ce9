import type { StagedChunk } from '../ports/session-store';

/**
 * At most this many staged chunks per session, so the META record stays small (≤ 16 KB) and each
 * update cheap whatever the fragment pattern. With 8 MiB parts and fragments of 256 KiB or more
 * the list never fills, so those bytes are staged once and never rewritten.
 */
export const MAX_STAGED_CHUNKS = 32;

/** A byte range [start, end) of the file. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface PlannedPart extends ByteRange {
  readonly partNumber: number;
}

export interface PlannedChunk extends ByteRange {
  readonly level: number;
}

export interface FragmentPlanInput {
  readonly total: number;
  readonly partSize: number;
  readonly partsDone: number;
  /** Bytes acknowledged so far; the new bytes start here. */
  readonly nextOffset: number;
  readonly staged: readonly StagedChunk[];
  /** How many new bytes the fragment adds at nextOffset (> 0). */
  readonly freshLength: number;
}

export interface FragmentPlan {
  /** Staged chunks to read back, oldest first; their bytes precede the new bytes. */
  readonly reads: readonly StagedChunk[];
  /** Whole parts (or the final part) to upload. */
  readonly parts: readonly PlannedPart[];
  /** The one staged object to write, if any bytes remain short of a part. */
  readonly stage?: PlannedChunk;
  /** Staged chunks that stay as they are, before `stage`. */
  readonly keep: readonly StagedChunk[];
  readonly partsDone: number;
}

/**
 * Decides where the new bytes go (design.md "the heart"). Pure: the caller reads, uploads, stages and
 * commits what the plan says.
 *
 * Buffered bytes run from partsDone·P to nextOffset + freshLength. Every whole part in them (or the
 * final part, once the file is complete) is uploaded; all staged chunks lie below the first part
 * boundary, so an upload consumes them all and only the new bytes' tail is staged.
 *
 * Otherwise the new bytes become one chunk of level 0. When that overflows MAX_STAGED_CHUNKS, chunks
 * are merged LSM-style: levels never increase towards the newest chunk, so each level forms one run;
 * the lowest level L with a run of two or more is merged, with everything newer, into one chunk of
 * level L+1. A byte is rewritten only when its chunk's level rises, and a level-L chunk holds at
 * least 2^L bytes, so no byte is rewritten more than log2(P) times, and fewer than MAX_STAGED_CHUNKS
 * distinct levels exist for parts below 2^31 bytes: a run to merge always exists.
 */
export function planFragment(input: FragmentPlanInput): FragmentPlan {
  const end = input.nextOffset + input.freshLength;
  const parts: PlannedPart[] = [];
  let partsDone = input.partsDone;
  for (;;) {
    const start = partsDone * input.partSize;
    const partEnd = Math.min(start + input.partSize, input.total);
    if (partEnd <= start || end < partEnd) break;
    parts.push({ partNumber: partsDone + 1, start, end: partEnd });
    partsDone += 1;
  }
  if (parts.length > 0) {
    const stagedStart = partsDone * input.partSize;
    return {
      reads: input.staged,
      parts,
      keep: [],
      partsDone,
      ...(end > stagedStart ? { stage: { start: stagedStart, end, level: 0 } } : {}),
    };
  }
  const fresh: PlannedChunk = { start: input.nextOffset, end, level: 0 };
  if (input.staged.length < MAX_STAGED_CHUNKS) {
    return { reads: [], parts, keep: input.staged, partsDone, stage: fresh };
  }
  const from = mergeStart(input.staged);
  const first = input.staged[from];
  const level = Math.max(first?.level ?? 0, 0) + 1;
  return {
    reads: input.staged.slice(from),
    parts,
    keep: input.staged.slice(0, from),
    partsDone,
    stage: { start: first?.start ?? input.nextOffset, end, level },
  };
}

/** Index where the lowest-level run of two or more chunks (counting the new level-0 chunk) begins. */
function mergeStart(staged: readonly StagedChunk[]): number {
  const levels = [...staged.map((chunk) => chunk.level), 0];
  let runEnd = levels.length;
  while (runEnd > 0) {
    const level = levels[runEnd - 1];
    let runStart = runEnd - 1;
    while (runStart > 0 && levels[runStart - 1] === level) runStart -= 1;
    if (runEnd - runStart >= 2) return Math.min(runStart, staged.length - 1);
    runEnd = runStart;
  }
  // Unreachable for parts below 2^31 bytes (see planFragment); merging the newest two keeps progress.
  return staged.length - 1;
}
