import { formatBytes } from '../client';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Part size of our server (its default), of the tus S3 store and of lib-storage alike. */
export const PART_SIZE = 8 * MiB;

export type System = 'ours' | 'tus' | 'lib-storage';

export interface Scenario {
  readonly id: string;
  readonly system: System;
  readonly fileSize: number;
  /** Bytes per data request: BITS fragment, tus PATCH chunk, or S3 part (lib-storage). */
  readonly chunkSize: number;
  /**
   * Ours with part buffers off (BITS_PART_BUFFER_BYTES=0): every staged chunk is read back from S3,
   * as when each fragment of an upload reaches another Lambda environment.
   */
  readonly unbuffered?: boolean;
}

const SYSTEM_LABEL: Record<System, string> = {
  ours: 'ours (BITS server + client)',
  tus: 'tus (@tus/server + s3-store, tus-js-client)',
  'lib-storage': 'lib-storage Upload (direct to S3)',
};

export const scenarioLabel = (scenario: Scenario): string =>
  scenario.unbuffered ? `${SYSTEM_LABEL[scenario.system]}, part buffers off` : SYSTEM_LABEL[scenario.system];

const compact = (bytes: number): string => formatBytes(bytes).replace('.0 ', '').replace(' ', '');

function scenario(system: System, chunkSize: number, fileSize: number): Scenario {
  return { id: `${system}-${compact(chunkSize)}-${compact(fileSize)}`, system, fileSize, chunkSize };
}

/** Ours at 1 MiB fragments with part buffers off: the cost when no environment holds the part. */
function unbuffered(fileSize: number): Scenario {
  const base = scenario('ours', MiB, fileSize);
  return { ...base, id: `${base.id}-unbuffered`, unbuffered: true };
}

/**
 * The full matrix: the large file at 1 MiB and 4 MiB fragments; smaller files for small fragments,
 * which cost one request each (64 KiB on 32 MiB, 5 KiB — the smallest fragment Windows sends — on
 * 4 MiB); ours also at 1 MiB with part buffers off. lib-storage runs at every file size, so every
 * ratio compares equal files.
 */
export function fullScenarios(size: number): Scenario[] {
  const small = Math.min(32 * MiB, size);
  const tiny = Math.min(4 * MiB, size);
  return [
    scenario('ours', 1 * MiB, size),
    scenario('ours', 4 * MiB, size),
    scenario('ours', 64 * KiB, small),
    scenario('ours', 5 * KiB, tiny),
    unbuffered(size),
    scenario('tus', 1 * MiB, size),
    scenario('tus', 4 * MiB, size),
    scenario('tus', 64 * KiB, small),
    scenario('lib-storage', PART_SIZE, size),
    scenario('lib-storage', PART_SIZE, small),
    scenario('lib-storage', PART_SIZE, tiny),
  ];
}

/** Default file size of --quick: two parts, so staging, a whole part and a final part all happen. */
export const QUICK_SIZE = 12 * MiB;

/**
 * Smoke matrix for `npm test`: every system once, and 5 KiB fragments on a file large enough to
 * fill the staged-chunk list (more than 32 chunks), so compaction runs too.
 */
export function quickScenarios(size: number): Scenario[] {
  return [
    scenario('ours', 1 * MiB, size),
    scenario('ours', 5 * KiB, Math.min(512 * KiB, size)),
    scenario('tus', 1 * MiB, size),
    scenario('lib-storage', PART_SIZE, size),
  ];
}
