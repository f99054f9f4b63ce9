import fc from 'fast-check';
import { MAX_STAGED_CHUNKS, planFragment } from '../../../lambda/assembler/plan-fragment';
import type { StagedChunk } from '../../../lambda/ports/session-store';

const MiB = 1024 * 1024;

interface Simulation {
  readonly parts: Array<{ partNumber: number; start: number; end: number }>;
  readonly maxChunks: number;
  /** Bytes written to staged objects, beyond the part uploads. */
  readonly stagedBytes: number;
  readonly rewritesPerByte: number;
}

/**
 * Staged chunks cover exactly [partsDone·P, nextOffset), contiguously, with levels never rising.
 * Plain checks rather than expect(): this runs once per fragment, tens of thousands of times.
 */
function checkStaged(staged: readonly StagedChunk[], from: number, nextOffset: number): void {
  let cursor = from;
  let level = Number.POSITIVE_INFINITY;
  for (const chunk of staged) {
    if (chunk.start !== cursor || chunk.end <= chunk.start || chunk.level > level) {
      throw new Error(`staged chunks broken at ${cursor}: ${JSON.stringify(staged)}`);
    }
    cursor = chunk.end;
    level = chunk.level;
  }
  if (cursor !== Math.max(nextOffset, from))
    throw new Error(`staged chunks end at ${cursor}, not ${nextOffset}`);
}

/** Runs the planner over a whole file the way store-fragment.ts applies it, checking state invariants. */
function simulate(total: number, partSize: number, fragments: () => number): Simulation {
  let staged: StagedChunk[] = [];
  let partsDone = 0;
  let nextOffset = 0;
  let maxChunks = 0;
  let stagedBytes = 0;
  const parts: Simulation['parts'] = [];
  while (nextOffset < total) {
    const freshLength = Math.min(fragments(), total - nextOffset);
    const plan = planFragment({ total, partSize, partsDone, nextOffset, staged, freshLength });
    parts.push(...plan.parts);
    const stage = plan.stage ? [{ ...plan.stage, checksum: '' }] : [];
    staged = [...plan.keep, ...stage];
    stagedBytes += plan.stage ? plan.stage.end - plan.stage.start : 0;
    partsDone = plan.partsDone;
    nextOffset += freshLength;
    maxChunks = Math.max(maxChunks, staged.length);
    checkStaged(staged, partsDone * partSize, nextOffset);
  }
  return { parts, maxChunks, stagedBytes, rewritesPerByte: stagedBytes / total };
}

describe('planFragment', () => {
  it('covers the file with consecutive parts of exactly P bytes but the last, for any fragment sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 * MiB }),
        fc.constantFrom(5 * MiB, 8 * MiB),
        fc.array(fc.integer({ min: 1, max: 5 * MiB }), { minLength: 1, maxLength: 20 }),
        (total, partSize, sizes) => {
          // Scale tiny sizes up so one run stays within ~20,000 fragments.
          const floor = Math.ceil(total / 20_000);
          let index = 0;
          const next = () => Math.max(floor, sizes[index++ % sizes.length] ?? 1);
          const { parts, maxChunks } = simulate(total, partSize, next);
          expect(parts.map((part) => part.partNumber)).toEqual(parts.map((_, i) => i + 1));
          expect(parts.at(-1)?.end).toBe(total);
          for (const [i, part] of parts.entries()) {
            expect(part.start).toBe(i * partSize);
            if (i < parts.length - 1) expect(part.end - part.start).toBe(partSize);
          }
          expect(maxChunks).toBeLessThanOrEqual(MAX_STAGED_CHUNKS);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never rewrites staged bytes at 1 MiB fragments with 8 MiB parts (each byte staged once)', () => {
    const total = 64 * MiB;
    const { stagedBytes, parts } = simulate(total, 8 * MiB, () => MiB);
    expect(parts).toHaveLength(8);
    // Seven of every eight fragments are staged once; the eighth completes a part straight away.
    expect(stagedBytes).toBe((total / 8) * 7);
  });

  it('bounds the chunk list and the rewrites per byte with 1-byte fragments', () => {
    const partSize = 5 * MiB;
    const total = 64 * 1024;
    const { maxChunks, rewritesPerByte } = simulate(total, partSize, () => 1);
    expect(maxChunks).toBeLessThanOrEqual(MAX_STAGED_CHUNKS);
    // Each rewrite raises a byte's level and a level-L chunk holds ≥ 2^L bytes: ≤ log2(P) rewrites.
    expect(rewritesPerByte).toBeLessThanOrEqual(Math.log2(partSize));
  });
});
