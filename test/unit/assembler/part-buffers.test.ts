import { createHash, randomBytes } from 'node:crypto';
import { type HeldPart, holdsChunks, PartBuffers } from '../../../lambda/assembler/part-buffers';
import { S3_MIN_PART_SIZE } from '../../../lambda/config';
import { type BitsLambdaHandler, createHandler } from '../../../lambda/create-handler';
import type { HandlerDeps } from '../../../lambda/handlers/types';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { gateCalls } from '../../helpers/gate';
import { anotherEnvironment, makeTestBed, type TestBed } from '../../helpers/test-deps';

const KiB = 1024;
const MiB = 1024 * KiB;
const PART = S3_MIN_PART_SIZE;
const KEY = 'uploads/up/a.bin';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const stored = (bed: TestBed) => sha256(bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0));

const held = (sessionId: string, bytes: number): HeldPart => ({
  sessionId,
  origin: 0,
  buffer: Buffer.alloc(bytes),
  chunks: [],
});

/** A test bed whose staged-chunk reads are counted, and a second environment on the same stores. */
function counted(overrides: Parameters<typeof makeTestBed>[0] = {}) {
  const bed = makeTestBed({ partSize: String(PART), ...overrides });
  const reads: string[] = [];
  const read = bed.uploads.readStagedChunk.bind(bed.uploads);
  bed.uploads.readStagedChunk = (key, into) => {
    reads.push(key);
    return read(key, into);
  };
  const other: BitsLambdaHandler = createHandler(anotherEnvironment(bed.deps));
  return { bed, reads, other };
}

const send = (handler: BitsLambdaHandler, id: string, file: Buffer, first: number, end: number) =>
  sendFragment(handler, id, first, file.subarray(first, end), file.length);

describe('PartBuffers', () => {
  it('hands a buffer to one taker only', () => {
    const buffers = new PartBuffers(MiB);
    buffers.put(held('a', KiB));
    expect(buffers.take('a')?.sessionId).toBe('a');
    expect(buffers.take('a')).toBeUndefined();
    expect(buffers.size).toBe(0);
  });

  it('drops the least recently put buffers once their bytes exceed the budget', () => {
    const buffers = new PartBuffers(3 * KiB);
    buffers.put(held('a', KiB));
    buffers.put(held('b', KiB));
    buffers.put(held('c', KiB));
    buffers.put(held('a', KiB)); // a is now the most recent
    buffers.put(held('d', KiB));
    expect(buffers.size).toBe(3 * KiB);
    expect(buffers.take('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((id) => buffers.take(id)?.sessionId)).toEqual(['a', 'c', 'd']);
  });

  it('keeps nothing larger than the budget, and nothing with a budget of 0', () => {
    const buffers = new PartBuffers(KiB);
    buffers.put(held('a', KiB + 1));
    expect(buffers.take('a')).toBeUndefined();
    const off = new PartBuffers(0);
    off.put(held('a', 1));
    expect(off.size).toBe(0);
    // Fragment asks first, and builds no buffer that would not be kept.
    expect([buffers.accepts(KiB), buffers.accepts(KiB + 1), off.accepts(1)]).toEqual([true, false, false]);
  });

  it('matches chunks by range and checksum', () => {
    const part: HeldPart = { ...held('a', 10), chunks: [{ start: 0, end: 5, checksum: 'x', level: 0 }] };
    expect(holdsChunks(part, [])).toBe(true);
    expect(holdsChunks(part, [{ start: 0, end: 5, checksum: 'x', level: 1 }])).toBe(true);
    expect(holdsChunks(part, [{ start: 0, end: 5, checksum: 'y', level: 0 }])).toBe(false);
    expect(holdsChunks(part, [{ start: 0, end: 4, checksum: 'x', level: 0 }])).toBe(false);
  });
});

describe('Fragment with part buffers', () => {
  it('uploads every part from the bytes this environment staged, reading nothing back', async () => {
    const { bed, reads } = counted();
    const file = randomBytes(3 * PART + 123);
    const id = await createSession(bed.handler);
    for (let first = 0; first < file.length; first += MiB) {
      await send(bed.handler, id, file, first, Math.min(first + MiB, file.length));
    }
    expect(reads).toEqual([]);
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(stored(bed)).toBe(sha256(file));
    // The final part leaves nothing held.
    expect(bed.deps.partBuffers?.size).toBe(0);
  });

  it('merges small staged chunks in place, reading nothing back', async () => {
    const { bed, reads } = counted();
    const file = randomBytes(PART + 10 * KiB);
    const id = await createSession(bed.handler);
    for (let first = 0; first < file.length; first += 5 * KiB) {
      await send(bed.handler, id, file, first, Math.min(first + 5 * KiB, file.length));
    }
    expect(reads).toEqual([]);
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(stored(bed)).toBe(sha256(file));
  });

  it('reads back what another environment staged, and what it no longer holds the same way', async () => {
    const { bed, reads, other } = counted();
    const file = randomBytes(2 * PART);
    const id = await createSession(bed.handler);
    await send(bed.handler, id, file, 0, MiB); // held here: [0, 1 MiB)
    await send(other, id, file, MiB, 2 * MiB); // the record now names a chunk this one lacks
    await send(bed.handler, id, file, 2 * MiB, PART + MiB); // completes part 1 from S3
    expect(reads).toHaveLength(2);
    // The part it uploaded was from S3; the new tail [PART, PART + 1 MiB) is held again.
    await send(bed.handler, id, file, PART + MiB, 2 * PART);
    expect(reads).toHaveLength(2);
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(stored(bed)).toBe(sha256(file));
  });

  it('lets one of two concurrent duplicates use the buffer; the other reads, and the bytes stay exact', async () => {
    const { bed, reads } = counted();
    const file = randomBytes(PART + MiB);
    const id = await createSession(bed.handler);
    await send(bed.handler, id, file, 0, 4 * MiB);
    const uploading = gateCalls(bed.uploads, 'uploadPart');
    const first = send(bed.handler, id, file, 4 * MiB, PART + MiB);
    await uploading.arrived; // the first holds the buffer while its part uploads
    const second = send(bed.handler, id, file, 4 * MiB, PART + MiB);
    uploading.open();
    const answers = await Promise.all([first, second]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(reads).toHaveLength(1);
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(stored(bed)).toBe(sha256(file));
  });

  it('keeps no bytes of a cancelled session', async () => {
    const { bed } = counted();
    const file = randomBytes(PART);
    const id = await createSession(bed.handler);
    await send(bed.handler, id, file, 0, MiB);
    expect(bed.deps.partBuffers?.size).toBe(PART);
    expect((await sendPacket(bed.handler, 'Cancel-Session', id)).status).toBe(200);
    expect(bed.deps.partBuffers?.size).toBe(0);
  });

  it('reads everything back with a budget of 0 (BITS_PART_BUFFER_BYTES=0)', async () => {
    const { bed, reads } = counted({ partBufferBytes: '0' });
    const handler = createHandler({
      ...bed.deps,
      partBuffers: new PartBuffers(bed.deps.config.partBufferBytes),
    } as HandlerDeps);
    const file = randomBytes(PART + MiB);
    const id = await createSession(handler);
    for (let first = 0; first < file.length; first += MiB) {
      await send(handler, id, file, first, Math.min(first + MiB, file.length));
    }
    expect(reads).toHaveLength(4);
    expect((await sendPacket(handler, 'Close-Session', id)).status).toBe(200);
    expect(stored(bed)).toBe(sha256(file));
  });
});
