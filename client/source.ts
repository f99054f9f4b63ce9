import type { Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './errors';
import { formatHresult, HRESULT } from './hresult';

/** What an upload reads: a fixed-size byte source read in slices, never whole. */
export interface UploadSource {
  readonly size: number;
  /** Sent as Content-Name (already sanitised). */
  readonly name: string;
  /** Exactly `length` bytes from `position`; throws UsageError if the source changed. */
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

// Windows forbids these in Content-Name (MC-BUP §2.2.6.1 note <11>).
const FORBIDDEN_IN_CONTENT_NAME = new Set('\\/:*?"<>|');
const MAX_CONTENT_NAME = 260;

/** Printable ASCII only: Node refuses header values beyond Latin-1, and servers differ on the rest. */
const safeNameChar = (char: string): string => {
  const code = char.codePointAt(0) ?? 0;
  return code < 0x20 || code > 0x7e || FORBIDDEN_IN_CONTENT_NAME.has(char) ? '_' : char;
};

/** The local file name as a Content-Name value: no path, forbidden characters as `_`, ≤ 260 chars. */
export function contentNameFor(file: string): string {
  const name = [...path.basename(file)].map(safeNameChar).join('').slice(0, MAX_CONTENT_NAME);
  return name === '' ? 'upload.bin' : name;
}

const changed = (file: string, what: string): UsageError =>
  new UsageError(
    `${file} changed during the upload (${what}); Windows stops such a job with BG_E_LOCAL_FILE_CHANGED ${formatHresult(HRESULT.localFileChanged)}`,
  );

/**
 * Opens a file for slice reads. Size and modification time are taken now and checked before each
 * slice, as Windows does, so a file that is rewritten under us is never uploaded half old, half new.
 */
export async function openFileSource(file: string): Promise<UploadSource> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let initial: Stats;
  try {
    initial = await handle.stat();
  } catch (error) {
    await handle.close();
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (!initial.isFile()) {
    await handle.close();
    throw new UsageError(`${file} is not a regular file`);
  }
  return {
    size: initial.size,
    name: contentNameFor(file),
    async read(position, length) {
      const now = await handle.stat();
      if (now.size !== initial.size || now.mtimeMs !== initial.mtimeMs) throw changed(file, 'size or time');
      const buffer = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
        if (bytesRead === 0) throw changed(file, 'shorter than at the start');
        filled += bytesRead;
      }
      return buffer;
    },
    close: () => handle.close(),
  };
}

/** An in-memory source (the smoke test's few bytes). */
export function bufferSource(name: string, data: Buffer): UploadSource {
  return {
    size: data.length,
    name: contentNameFor(name),
    read: async (position, length) => data.subarray(position, position + length),
    close: async () => undefined,
  };
}
