import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export interface TestFile {
  readonly path: string;
  readonly size: number;
  /** Hex sha256 of the content: the uploaded object must have the same. */
  readonly sha256: string;
}

const BLOCK = 1024 * 1024;

/** Random (incompressible) content, so no layer can win by compressing or deduplicating. */
export function writeRandomFile(dir: string, size: number): TestFile {
  const path = join(dir, `random-${size}.bin`);
  const hash = createHash('sha256');
  const block = Buffer.alloc(BLOCK);
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const length = Math.min(BLOCK, size - written);
      const chunk = block.subarray(0, length);
      randomFillSync(chunk);
      hash.update(chunk);
      writeSync(fd, chunk);
      written += length;
    }
  } finally {
    closeSync(fd);
  }
  return { path, size, sha256: hash.digest('hex') };
}

/** Hex sha256 of a stream (an object body read back for verification). */
export async function sha256Of(stream: Readable | AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Uint8Array);
  return hash.digest('hex');
}
