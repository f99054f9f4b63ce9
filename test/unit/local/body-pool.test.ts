import { BodyPool } from '../../../local/http/body-pool';

const KiB = 1024;
/** True when both views start at the same byte of the same memory. */
const sameMemory = (a: Buffer, b: Buffer): boolean => a.buffer === b.buffer && a.byteOffset === b.byteOffset;

describe('BodyPool', () => {
  it('lends a buffer of exactly the length asked for', () => {
    const pool = new BodyPool(1024 * KiB);
    expect(pool.take(100 * KiB)).toHaveLength(100 * KiB);
    expect(pool.take(0)).toHaveLength(0);
  });

  it('lends the memory of a buffer given back to the next request, as a view of the length asked', () => {
    const pool = new BodyPool(1024 * KiB);
    const first = pool.take(100 * KiB);
    pool.give(first);
    expect(pool.idleBytes).toBe(100 * KiB);
    const second = pool.take(60 * KiB);
    expect(second).toHaveLength(60 * KiB);
    expect(sameMemory(first, second)).toBe(true);
    expect(pool.idleBytes).toBe(0);
  });

  it('never lends the same memory twice before it is given back', () => {
    const pool = new BodyPool(1024 * KiB);
    const views = [pool.take(64 * KiB), pool.take(64 * KiB), pool.take(64 * KiB)];
    views[0]?.fill(1);
    views[1]?.fill(2);
    views[2]?.fill(3);
    expect(views.map((view) => view[0])).toEqual([1, 2, 3]);
    expect(new Set(views.map((view) => view.buffer)).size).toBe(3);
  });

  it('lends the smallest idle buffer that fits', () => {
    const pool = new BodyPool(1024 * KiB);
    const large = pool.take(256 * KiB);
    const small = pool.take(16 * KiB);
    pool.give(large);
    pool.give(small);
    expect(sameMemory(pool.take(10 * KiB), small)).toBe(true);
    expect(sameMemory(pool.take(10 * KiB), large)).toBe(true);
  });

  it('allocates when no idle buffer is large enough, keeping the smaller one', () => {
    const pool = new BodyPool(1024 * KiB);
    const small = pool.take(16 * KiB);
    pool.give(small);
    const large = pool.take(32 * KiB);
    expect(sameMemory(large, small)).toBe(false);
    expect(pool.idleBytes).toBe(16 * KiB);
  });

  it('keeps no more idle bytes than its capacity', () => {
    const pool = new BodyPool(100 * KiB);
    const views = [pool.take(60 * KiB), pool.take(60 * KiB)];
    for (const view of views) pool.give(view);
    expect(pool.idleBytes).toBe(60 * KiB);
  });

  it('ignores buffers it did not lend, and a view given back twice', () => {
    const pool = new BodyPool(1024 * KiB);
    pool.give(Buffer.alloc(64 * KiB));
    expect(pool.idleBytes).toBe(0);
    const view = pool.take(64 * KiB);
    pool.give(view);
    pool.give(view);
    expect(pool.idleBytes).toBe(64 * KiB);
  });

  it('does not pool small bodies or anything when its capacity is 0', () => {
    const small = new BodyPool(1024 * KiB);
    small.give(small.take(100));
    expect(small.idleBytes).toBe(0);
    const off = new BodyPool(0);
    const view = off.take(64 * KiB);
    off.give(view);
    expect(off.idleBytes).toBe(0);
    expect(sameMemory(off.take(64 * KiB), view)).toBe(false);
  });
});
