import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { S3_MIN_PART_SIZE } from '../../../lambda/config';
import { type BitsLambdaHandler, createHandler } from '../../../lambda/create-handler';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { logUniform, misbehaviourArbitrary, prng, simulateUpload } from '../../helpers/simulated-client';
import { anotherEnvironment, makeTestBed } from '../../helpers/test-deps';

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_FILE = 40 * MiB;
const MAX_FRAGMENT = Math.floor(4.4 * MiB);
/** Bounds a run's handler calls (about 170 µs each in memory); 1-byte fragments get their own test below. */
const MAX_FRAGMENTS_PER_RUN = 5000;
const META_BOUND = 16 * KiB;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('upload invariants under a misbehaving client (design.md invariants 1, 2, 4)', () => {
  it('stores every file byte-identically, with parts ≥ 5 MiB but the last, a small session item, and no leftovers', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        misbehaviourArbitrary(),
        fc.constantFrom(5 * MiB, 8 * MiB),
        // How often a request goes to a second execution environment (its own session cache and
        // part buffers, as a second warm Lambda environment): each then sees stale records and
        // holds parts the other moved past.
        fc.constantFrom(0, 0.1, 0.5),
        async (seed, misbehaviour, partSize, elsewhere) => {
          runs += 1;
          const random = prng(seed);
          const fileSize = random() < 0.05 ? 0 : logUniform(random, 1, MAX_FILE);
          const smallest = fileSize < 64 * KiB ? 1 : 5 * KiB;
          const floor = Math.max(smallest, Math.ceil(fileSize / MAX_FRAGMENTS_PER_RUN));
          const fragmentSize = logUniform(random, floor, Math.max(floor, MAX_FRAGMENT));
          // A server limit below the client's size makes the client shrink through 413s.
          const maxFragment = random() < 0.3 ? logUniform(random, floor, MAX_FRAGMENT) : MAX_FRAGMENT;
          const bed = makeTestBed({ partSize: String(partSize), maxFragmentSize: String(maxFragment) });
          const file = randomBytes(fileSize);

          const second = createHandler(anotherEnvironment(bed.deps));
          const routed: BitsLambdaHandler = (event) => (random() < elsewhere ? second : bed.handler)(event);
          const upload = await simulateUpload(routed, file, {
            fragmentSize,
            minFragment: Math.min(floor, maxFragment),
            random,
            misbehaviour,
          });

          expect(upload.close.status).toBe(200);
          const stored = bed.uploads.objects.get('uploads/up/a.bin');
          expect(stored?.body.length).toBe(fileSize);
          expect(sha256(stored?.body ?? Buffer.alloc(0))).toBe(sha256(file));
          expect(bed.sessions.largestSessionBytes).toBeLessThanOrEqual(META_BOUND);
          expect(bed.uploads.keysUnder('bits-staging/')).toEqual([]);
          expect(bed.uploads.uploads.size).toBe(0);
          expect(bed.sessions.partCount(upload.sessionId)).toBe(0);
          expect(upload.statuses.get(500)).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
    expect(runs).toBeGreaterThanOrEqual(200);
  }, 240_000);

  it('keeps the session item small and the bytes exact with 1-byte fragments', async () => {
    const bed = makeTestBed({ partSize: String(S3_MIN_PART_SIZE) });
    const file = randomBytes(20 * KiB);
    const id = await createSession(bed.handler);
    for (let offset = 0; offset < file.length; offset += 1) {
      const answer = await sendFragment(
        bed.handler,
        id,
        offset,
        file.subarray(offset, offset + 1),
        file.length,
      );
      expect(answer.status).toBe(200);
    }
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(sha256(bed.uploads.objects.get('uploads/up/a.bin')?.body ?? Buffer.alloc(0))).toBe(sha256(file));
    expect(bed.sessions.largestSessionBytes).toBeLessThanOrEqual(META_BOUND);
  }, 60_000);
});
