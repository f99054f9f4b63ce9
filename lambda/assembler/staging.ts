import { createHash } from 'node:crypto';
import type { StagedChunk } from '../ports/session-store';

/** Folder of a session's staged chunks: `<staging prefix><guid>/`. */
export const stagingFolder = (stagingPrefix: string, sessionId: string): string =>
  `${stagingPrefix}${sessionId.replace(/[{}]/g, '').toLowerCase()}/`;

export const sha256Base64 = (bytes: Uint8Array): string =>
  createHash('sha256').update(bytes).digest('base64');

/**
 * A staged chunk's key names its range and a digest of its bytes: two competing retries with
 * different lengths or bytes never share a key, so a loser can never overwrite what a winner
 * committed, and a key a committed record names always holds exactly the recorded bytes.
 */
export function describeChunk(
  folder: string,
  range: { readonly start: number; readonly end: number; readonly level: number },
  bytes: Uint8Array,
): StagedChunk {
  const checksum = sha256Base64(bytes);
  const digest = Buffer.from(checksum, 'base64').toString('hex').slice(0, 16);
  return { ...range, key: `${folder}${range.start}-${range.end}-${digest}`, checksum };
}

/** True when bytes read back are exactly what the chunk record describes. */
export const chunkMatches = (chunk: StagedChunk, bytes: Uint8Array): boolean =>
  bytes.length === chunk.end - chunk.start && sha256Base64(bytes) === chunk.checksum;
