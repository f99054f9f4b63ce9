import { UsageError } from './errors';

/**
 * Binary multiples only, as Windows counts (its "5 KB" minimum fragment is 5,120 bytes), so
 * `KB`, `KiB` and `K` all mean 1,024 bytes.
 */
const MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parses `1048576`, `1MiB`, `512KiB`, `1.5 MiB`, `5KB` into whole bytes. */
export function parseByteSize(raw: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const multiplier = MULTIPLIERS[match?.[2]?.toLowerCase() ?? 'none'];
  if (match?.[1] === undefined || multiplier === undefined) {
    throw new UsageError(`not a size: "${raw}" (use bytes or a unit: 512KiB, 4MiB, 1GiB)`);
  }
  const bytes = Number(match[1]) * multiplier;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`not a whole number of bytes: "${raw}"`);
  return bytes;
}

/** `4.0 MiB`, `512 B`: for logs, one decimal above a KiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `850 ms`, `12.3 s`, `4 min 05 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}
