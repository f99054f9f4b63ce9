/** Bodies below this size come from Node's shared slab (Buffer.allocUnsafe) and are not pooled. */
const SMALLEST_POOLED = 4096;

/**
 * Buffers for request bodies, lent out while a request is handled and reused once it is answered.
 *
 * Why: V8 counts the external memory allocated since its last full collection against the old
 * generation, and starts an incremental marking once that leaves less room than the young
 * generation holds. A new buffer per body reaches that after a few megabytes: with 4 MiB
 * fragments the server ran a mark-compact after nearly every request (65 in a 256 MiB upload,
 * 3 with bodies reused; bench/README.md). Hand-written because no well-kept pooling library lends
 * views of a larger buffer and takes them back by the view.
 *
 * The owner of a lent view must not touch it after giving it back. The local front lends a body
 * when its first bytes arrive and takes it back once the application has answered, which is after
 * every call of the handler that used it has settled (store-fragment.ts waits for them all).
 */
export class BodyPool {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;
  /** Each lent view → the whole buffer it is a view of. */
  private readonly lent = new WeakMap<Buffer, Buffer>();

  /** Keeps at most `capacityBytes` of buffers not lent out; 0 turns pooling off. */
  constructor(private readonly capacityBytes: number) {}

  /** A buffer of exactly `length` bytes, with whatever they held before. */
  take(length: number): Buffer {
    let best: Buffer | undefined;
    for (const buffer of this.free) {
      if (buffer.length >= length && (best === undefined || buffer.length < best.length)) best = buffer;
    }
    if (best === undefined && (length < SMALLEST_POOLED || this.capacityBytes === 0)) {
      return Buffer.allocUnsafe(length);
    }
    const whole = best ?? Buffer.allocUnsafeSlow(length);
    if (best !== undefined) {
      this.free.splice(this.free.indexOf(best), 1);
      this.freeBytes -= best.length;
    }
    const view = whole.subarray(0, length);
    this.lent.set(view, whole);
    return view;
  }

  /** Takes back a view `take` returned (anything else is ignored); kept if the capacity allows. */
  give(view: Buffer): void {
    const whole = this.lent.get(view);
    if (whole === undefined) return;
    this.lent.delete(view);
    if (this.freeBytes + whole.length > this.capacityBytes) return;
    this.free.push(whole);
    this.freeBytes += whole.length;
  }

  /** Bytes of the buffers kept and not lent out. */
  get idleBytes(): number {
    return this.freeBytes;
  }
}
