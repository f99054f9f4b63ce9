import { BitsError } from './errors';

/** A parsed `Content-Range: bytes first-last/total` (inclusive, zero-based; RFC 9110 §14.4). */
export interface ContentRange {
  readonly first: number;
  readonly last: number;
  readonly total: number;
}

// Digits only: no sign, no spaces inside, no `*`; the unit is matched case-insensitively (§2.3).
const CONTENT_RANGE = /^bytes ([0-9]{1,16})-([0-9]{1,16})\/([0-9]{1,16})$/i;

/** Parses a Fragment's Content-Range; anything malformed or inconsistent is E_INVALIDARG (T25, T27). */
export function parseContentRange(raw: string | undefined): ContentRange {
  if (raw === undefined) throw new BitsError('INVALID_ARGUMENT', 'missing Content-Range');
  const match = CONTENT_RANGE.exec(raw.trim());
  if (match === null) throw new BitsError('INVALID_ARGUMENT', 'malformed Content-Range');
  const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!Number.isSafeInteger(total)) throw new BitsError('INVALID_ARGUMENT', 'Content-Range total too large');
  if (first > last) throw new BitsError('INVALID_ARGUMENT', 'Content-Range first byte after last byte');
  if (last >= total) throw new BitsError('INVALID_ARGUMENT', 'Content-Range last byte beyond the total');
  return { first, last, total };
}

/** Number of bytes the range covers. */
export const rangeLength = (range: ContentRange): number => range.last - range.first + 1;
