import { createHash, randomBytes } from 'node:crypto';
import { storeFragment } from '../../../lambda/assembler/store-fragment';
import { S3_MIN_PART_SIZE } from '../../../lambda/config';
import { createHandler } from '../../../lambda/create-handler';
import type { HandlerDeps } from '../../../lambda/handlers/types';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { gate, gateCalls } from '../../helpers/gate';
import { makeTestBed } from '../../helpers/test-deps';

const MiB = 1024 * 1024;
const PART = S3_MIN_PART_SIZE;
const KEY = 'uploads/up/a.bin';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('storeFragment', () => {
  it('moves the stored expiry only once it would move by a step (a minute at most)', async () => {
    const bed = makeTestBed();
    const file = randomBytes(3 * MiB);
    const id = await createSession(bed.handler);
    const created = (await bed.sessions.getSession(id))?.expiresAt;
    bed.clock.advance(59);
    await sendFragment(bed.handler, id, 0, file.subarray(0, MiB), file.length);
    // 59 s of progress would move it by less than the step: the record (and the owner index) stay.
    expect((await bed.sessions.getSession(id))?.expiresAt).toBe(created);
    bed.clock.advance(2);
    await sendFragment(bed.handler, id, MiB, file.subarray(MiB, 2 * MiB), file.length);
    expect((await bed.sessions.getSession(id))?.expiresAt).toBe(
      bed.clock.now() + bed.deps.config.sessionTimeoutSeconds * 1000,
    );
  });

  it('writes the staged tail while it reads the staged chunks a part needs', async () => {
    const bed = makeTestBed({ partSize: String(PART) });
    // Without part buffers: the part's staged chunk is read back from the store.
    const handler = createHandler({ ...bed.deps, partBuffers: undefined } as HandlerDeps);
    const file = randomBytes(PART + 2 * MiB);
    const id = await createSession(handler);
    await sendFragment(handler, id, 0, file.subarray(0, 4 * MiB), file.length);
    const staged = gate();
    const read = bed.uploads.readStagedChunk.bind(bed.uploads);
    bed.uploads.readStagedChunk = async (key, into) => {
      await staged.opened; // the read finishes only once the tail has been written
      return read(key, into);
    };
    const stage = bed.uploads.putStagedChunk.bind(bed.uploads);
    bed.uploads.putStagedChunk = async (key, body, digest) => {
      await stage(key, body, digest);
      staged.open();
    };
    // Completes part 1 from the staged chunk and stages the 1 MiB past it.
    const answer = await sendFragment(handler, id, 4 * MiB, file.subarray(4 * MiB, PART + MiB), file.length);
    expect([answer.status, answer.headers['bits-received-content-range']]).toEqual([200, String(PART + MiB)]);
    await sendFragment(handler, id, PART + MiB, file.subarray(PART + MiB), file.length);
    expect((await sendPacket(handler, 'Close-Session', id)).status).toBe(200);
    expect(sha256(bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
  });

  it('leaves nothing behind when a Cancel lands while it reads, even after writing its staged tail', async () => {
    const bed = makeTestBed({ partSize: String(PART) });
    // Without a session cache or part buffers: the request reads the record and the staged chunk,
    // and Cancel runs in between.
    const handler = createHandler({
      ...bed.deps,
      sessionCache: undefined,
      partBuffers: undefined,
    } as HandlerDeps);
    const file = randomBytes(PART + 2 * MiB);
    const id = await createSession(handler);
    await sendFragment(handler, id, 0, file.subarray(0, 4 * MiB), file.length);
    const reading = gateCalls(bed.uploads, 'readStagedChunk');
    const late = sendFragment(handler, id, 4 * MiB, file.subarray(4 * MiB, PART + MiB), file.length);
    await reading.arrived;
    expect((await sendPacket(handler, 'Cancel-Session', id)).status).toBe(200);
    reading.open(); // the chunk is gone now; the staged tail was written meanwhile
    const answer = await late;
    expect([answer.status, answer.headers['bits-error-code']]).toEqual([500, '0x8020001F']);
    expect(bed.uploads.keysUnder('bits-staging/')).toEqual([]);
    expect(bed.sessions.partCount(id)).toBe(0);
    expect(bed.uploads.uploads.size).toBe(0);
  });

  it('discards the session, leaving nothing behind, when its multipart upload is gone behind its back', async () => {
    const bed = makeTestBed({ partSize: String(PART) });
    const file = randomBytes(PART + 2 * MiB);
    const id = await createSession(bed.handler);
    await sendFragment(bed.handler, id, 0, file.subarray(0, 4 * MiB), file.length);
    bed.uploads.uploads.clear(); // as the bucket's lifecycle rule aborts an old upload
    // Completes part 1 (UploadPart: no such upload) while it stages the 1 MiB past it.
    const answer = await sendFragment(
      bed.handler,
      id,
      4 * MiB,
      file.subarray(4 * MiB, PART + MiB),
      file.length,
    );
    expect([answer.status, answer.headers['bits-error-code']]).toEqual([500, '0x8020001F']);
    expect((await bed.sessions.getSession(id))?.state).toBe('cancelled');
    expect(bed.uploads.keysUnder('bits-staging/')).toEqual([]);
    expect(bed.sessions.partCount(id)).toBe(0);
  });

  it('records each part with its checksum, and Close completes with them', async () => {
    const bed = makeTestBed({ partSize: String(PART) });
    const file = randomBytes(2 * PART + 10);
    const id = await createSession(bed.handler);
    for (let first = 0; first < file.length; first += 4 * MiB) {
      await sendFragment(bed.handler, id, first, file.subarray(first, first + 4 * MiB), file.length);
    }
    const parts = await bed.sessions.listParts(id);
    expect(parts.map((part) => part.partNumber)).toEqual([1, 2, 3]);
    expect(parts.every((part) => typeof part.checksum === 'string')).toBe(true);
    const complete = jest.spyOn(bed.uploads, 'completeMultipartUpload');
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(complete.mock.calls[0]?.[1]).toEqual(
      parts.map(({ partNumber, etag, checksum }) => ({ partNumber, etag, checksum })),
    );
    expect(sha256(bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
  });

  it('refuses a record whose staged chunks do not tile the bytes before the offset, uploading nothing', async () => {
    const bed = makeTestBed({ partSize: String(PART) });
    const file = randomBytes(PART + 1);
    const id = await createSession(bed.handler);
    await sendFragment(bed.handler, id, 0, file.subarray(0, MiB), file.length);
    await sendFragment(bed.handler, id, MiB, file.subarray(MiB, 2 * MiB), file.length);
    const session = await bed.sessions.getSession(id);
    if (session === undefined) throw new Error('no session');
    // A record with a hole between its chunks: never assemble a part with unwritten bytes in it.
    const broken = { ...session, staged: session.staged.slice(1) };
    const before = bed.uploads.requests.get('uploadPart') ?? 0;
    await expect(storeFragment(bed.deps, broken, file.length, file.subarray(2 * MiB))).rejects.toThrow(
      /staged chunks/,
    );
    expect(bed.uploads.requests.get('uploadPart') ?? 0).toBe(before);
  });
});
