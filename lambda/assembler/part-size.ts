import { S3_MAX_PARTS } from '../config';

const MiB = 1024 * 1024;

/**
 * Part size for a file of `total` bytes (design.md): the configured size, raised for large files so
 * the file fits in 10,000 parts, in whole MiB. Fixed at the first fragment, so part n always covers
 * bytes [(n-1)·P, n·P) and a retry re-uploads the same part number with the same bytes.
 */
export function choosePartSize(total: number, configured: number): number {
  const needed = Math.ceil(Math.ceil(total / S3_MAX_PARTS) / MiB) * MiB;
  return Math.max(configured, needed);
}

/** Number of parts a non-empty file of `total` bytes has. */
export const partCount = (total: number, partSize: number): number =>
  Math.max(1, Math.ceil(total / partSize));
