import { createHash } from 'node:crypto';
import type { StagedChunk } from '../ports/session-store';

/** Folder of a session's staged chunks: `<staging prefix><guid>/`. */
export const stagingFolder = (stagingPrefix: string, sessionId: string): string =>
  `${stagingPrefix}${sessionId.replace(/[{}]/g, '').toLowerCase()}/`;

const sha256Base64 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('base64');

/**
 * A staged chunk's key names its range and a digest of its bytes: two competing retries with
 * different lengths or bytes never share a key, so a loser can never overwrite what a winner
 * committed, and a key a committed record names always holds exactly the recorded bytes. Derived
 * from the record rather than stored in it, which keeps the session item small.
 */
export const stagedChunkKey = (
  folder: string,
  chunk: Pick<StagedChunk, 'start' | 'end' | 'checksum'>,
): string =>
  `${folder}${chunk.start}-${chunk.end}-${Buffer.from(chunk.checksum, 'base64').toString('hex').slice(0, 16)}`;

/** The record of a staged chunk holding `bytes` at `range`. */
export const describeChunk = (
  range: { readonly start: number; readonly end: number; readonly level: number },
  bytes: Uint8Array,
): StagedChunk => ({ start: range.start, end: range.end, checksum: sha256Base64(bytes), level: range.level });
