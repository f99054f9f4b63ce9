import type { StagedChunk } from '../ports/session-store';

/** Default budget of PartBuffers: eight 8-MiB parts. */
export const DEFAULT_PART_BUFFER_BYTES = 64 * 1024 * 1024;

/**
 * The bytes of a session's current part that this environment staged itself: `buffer[i]` is the
 * file's byte `origin + i` for every byte the `chunks` cover. The chunks' checksums were computed
 * from exactly these bytes when they were staged, so a record naming the same chunks (same ranges
 * and checksums) names these bytes, and the part can be uploaded without reading them back.
 */
export interface HeldPart {
  readonly sessionId: string;
  /** File offset of `buffer[0]`: the start of the session's current part. */
  readonly origin: number;
  /** Reused from part to part; as long as a part (or the file, if shorter). */
  readonly buffer: Buffer;
  /** The staged chunks whose bytes the buffer holds, in file order. */
  readonly chunks: readonly StagedChunk[];
}

/** True when `held` holds every chunk of `chunks`, byte ranges and checksums alike. */
export function holdsChunks(held: HeldPart, chunks: readonly StagedChunk[]): boolean {
  return chunks.every((chunk) =>
    held.chunks.some(
      (mine) => mine.start === chunk.start && mine.end === chunk.end && mine.checksum === chunk.checksum,
    ),
  );
}

/**
 * Part buffers this execution environment keeps between Fragment requests, by session, the least
 * recently used dropped first once their bytes exceed the budget. A buffer is an optimisation only:
 * the staged objects stay the durable copy (another environment, or this one after a restart, reads
 * them from S3), and a buffer is used only when the session record names exactly its chunks.
 *
 * A request takes a session's buffer out (`take`) and gives it back after its commit (`put`): two
 * concurrent requests of one session (the local server runs many at once) never share one, so bytes
 * are never changed under an upload that is sending them.
 */
export class PartBuffers {
  private readonly held = new Map<string, HeldPart>();
  private bytes = 0;

  constructor(private readonly capacityBytes = DEFAULT_PART_BUFFER_BYTES) {}

  /** Removes and returns the session's buffer; the caller owns it until it puts it back. */
  take(sessionId: string): HeldPart | undefined {
    const held = this.held.get(sessionId);
    if (held !== undefined) this.remove(sessionId, held);
    return held;
  }

  /** Whether a buffer of this many bytes would be kept at all (the budget is at least its size). */
  accepts(bytes: number): boolean {
    return bytes <= this.capacityBytes;
  }

  /** Keeps `held` as the most recently used, dropping the oldest buffers over the budget. */
  put(held: HeldPart): void {
    this.delete(held.sessionId);
    if (!this.accepts(held.buffer.length)) return;
    this.held.set(held.sessionId, held);
    this.bytes += held.buffer.length;
    for (const [id, oldest] of this.held) {
      if (this.bytes <= this.capacityBytes) break;
      this.remove(id, oldest);
    }
  }

  delete(sessionId: string): void {
    const held = this.held.get(sessionId);
    if (held !== undefined) this.remove(sessionId, held);
  }

  /** Bytes of all buffers kept. */
  get size(): number {
    return this.bytes;
  }

  private remove(sessionId: string, held: HeldPart): void {
    this.held.delete(sessionId);
    this.bytes -= held.buffer.length;
  }
}
