import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SessionCache } from '../../../lambda/assembler/session-cache';
import { S3_MIN_PART_SIZE } from '../../../lambda/config';
import { type BitsLambdaHandler, createHandler } from '../../../lambda/create-handler';
import type { Session } from '../../../lambda/ports/session-store';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import type { Answer } from '../../helpers/events';
import { logUniform, misbehaviourArbitrary, prng, simulateUpload } from '../../helpers/simulated-client';
import { anotherEnvironment, makeTestBed, type TestBed } from '../../helpers/test-deps';

const KiB = 1024;
const MiB = 1024 * KiB;
const PART = S3_MIN_PART_SIZE;
const KEY = 'uploads/up/a.bin';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Two Lambda execution environments ("containers") of one function: each its own handler, session
 * cache and part buffers, both on the same session and upload stores, as two warm environments share DynamoDB and S3.
 */
interface Containers {
  readonly bed: TestBed;
  readonly a: BitsLambdaHandler;
  readonly b: BitsLambdaHandler;
  /** Consistent reads of session records so far (GetItem on DynamoDB). */
  reads(): number;
}

function twoContainers(overrides: Parameters<typeof makeTestBed>[0] = {}): Containers {
  const bed = makeTestBed({ partSize: String(PART), ...overrides });
  let reads = 0;
  const getSession = bed.sessions.getSession.bind(bed.sessions);
  bed.sessions.getSession = (id) => {
    reads += 1;
    return getSession(id);
  };
  const container = () => createHandler(anotherEnvironment(bed.deps));
  return { bed, a: container(), b: container(), reads: () => reads };
}

const acked = (answer: Answer) => Number(answer.headers['bits-received-content-range']);

/** Sends bytes [first, end) of `file`. */
const fragment = (handler: BitsLambdaHandler, id: string, file: Buffer, first: number, end: number) =>
  sendFragment(handler, id, first, file.subarray(first, end), file.length);

/** Everything a session may hold besides its record: staged objects, part items, an open upload. */
function leftovers(bed: TestBed, id: string) {
  return {
    staged: bed.uploads.keysUnder('bits-staging/').length,
    parts: bed.sessions.partCount(id),
    uploads: bed.uploads.uploads.size,
    stagedKeysOf: id,
  };
}

describe('SessionCache', () => {
  const record = (id: string): Session => ({
    id,
    key: `k/${id}`,
    originalPath: '/p',
    uploadId: 'u',
    owner: 'anonymous',
    state: 'open',
    nextOffset: 0,
    partsDone: 0,
    staged: [],
    createdAt: 0,
    expiresAt: 1,
  });

  it('keeps the most recently used records and drops the least recently used one past its capacity', () => {
    const cache = new SessionCache(2);
    cache.set(record('a'));
    cache.set(record('b'));
    expect(cache.get('a')?.id).toBe('a'); // a is now the most recently used
    cache.set(record('c'));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.id).toBe('a');
    expect(cache.get('c')?.id).toBe('c');
    expect(cache.size).toBe(2);
  });

  it('replaces a record of the same id and forgets a deleted one', () => {
    const cache = new SessionCache(2);
    cache.set(record('a'));
    cache.set({ ...record('a'), nextOffset: 5 });
    expect(cache.get('a')?.nextOffset).toBe(5);
    expect(cache.size).toBe(1);
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
  });
});

describe('Fragment on a cached session record', () => {
  it('reads the session record once for a whole upload sent to one environment', async () => {
    const env = twoContainers();
    const file = randomBytes(12 * MiB + 123);
    const id = await createSession(env.a);
    for (let first = 0; first < file.length; first += MiB) {
      const answer = await fragment(env.a, id, file, first, Math.min(first + MiB, file.length));
      expect([answer.status, acked(answer)]).toEqual([200, Math.min(first + MiB, file.length)]);
    }
    // The first fragment reads; every later one commits on the record the previous one wrote.
    expect(env.reads()).toBe(1);
    expect((await sendPacket(env.a, 'Close-Session', id)).status).toBe(200);
    expect(sha256(env.bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
  });

  it('acks exactly when two environments take turns, each with a stale record', async () => {
    const env = twoContainers();
    const file = randomBytes(11 * MiB + 7);
    const id = await createSession(env.a);
    let turn = 0;
    for (let first = 0; first < file.length; first += 700 * KiB) {
      const end = Math.min(first + 700 * KiB, file.length);
      const answer = await fragment(turn % 2 === 0 ? env.a : env.b, id, file, first, end);
      turn += 1;
      expect([answer.status, acked(answer)]).toEqual([200, end]);
      expect(env.bed.sessions.nextOffsetOf(id)).toBe(end);
    }
    expect((await sendPacket(env.b, 'Close-Session', id)).status).toBe(200);
    expect(sha256(env.bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
    expect(leftovers(env.bed, id)).toMatchObject({ staged: 0, parts: 0, uploads: 0 });
  });

  it('acks a fragment resent after a lost ack to the other environment as held, at the true offset', async () => {
    const env = twoContainers();
    const file = randomBytes(8 * MiB);
    const id = await createSession(env.a);
    await fragment(env.b, id, file, 0, MiB); // B's record: offset 1 MiB
    await fragment(env.a, id, file, MiB, 2 * MiB); // A's record: 2 MiB
    const lost = await fragment(env.b, id, file, 2 * MiB, 6 * MiB - 1); // B: stale record, reads, commits
    expect(acked(lost)).toBe(6 * MiB - 1);
    // The ack was lost: the client resends the same bytes, and A's record (2 MiB) is stale.
    const resent = await fragment(env.a, id, file, 2 * MiB, 6 * MiB - 1);
    expect([resent.status, acked(resent)]).toEqual([200, 6 * MiB - 1]);
    // A fragment that overlaps what is held and reaches past it keeps only the new bytes.
    const overlapping = await fragment(env.a, id, file, 5 * MiB, 8 * MiB);
    expect([overlapping.status, acked(overlapping)]).toEqual([200, 8 * MiB]);
    expect((await sendPacket(env.a, 'Close-Session', id)).status).toBe(200);
    expect(sha256(env.bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
  });

  it('answers 416 at the true offset, not at a stale one, for a fragment past it', async () => {
    const env = twoContainers();
    const file = randomBytes(3 * MiB);
    const id = await createSession(env.a);
    await fragment(env.a, id, file, 0, MiB); // A's record: 1 MiB
    await fragment(env.b, id, file, 0, 2 * MiB); // B moves the session to 2 MiB
    // From A's record alone this would be a 416 at 1 MiB; the session holds 2 MiB.
    const gap = await fragment(env.a, id, file, 2 * MiB + 5, 3 * MiB);
    expect([gap.status, acked(gap)]).toEqual([416, 2 * MiB]);
  });

  it.each(['Close-Session', 'Cancel-Session'])(
    'answers session-not-found after %s in the other environment, leaving no storage behind',
    async (packet) => {
      const env = twoContainers();
      const file = randomBytes(PART + MiB);
      const id = await createSession(env.a);
      await fragment(env.a, id, file, 0, MiB); // A's record: open at 1 MiB
      if (packet === 'Close-Session') {
        await fragment(env.b, id, file, 0, 4 * MiB);
        await fragment(env.b, id, file, 4 * MiB, file.length);
      }
      expect((await sendPacket(env.b, packet, id)).status).toBe(200);
      // Resent to A, whose record still says open at 1 MiB: a part or a staged chunk is written,
      // the commit is refused, the late writes are cleaned up, and a consistent read answers.
      for (const [first, end] of [
        [MiB, PART + 10],
        [MiB, 2 * MiB],
      ] as const) {
        const late = await fragment(env.a, id, file, first, end);
        expect([late.status, late.headers['bits-error-code']]).toEqual([500, '0x8020001F']);
      }
      expect(leftovers(env.bed, id)).toMatchObject({ staged: 0, parts: 0, uploads: 0 });
      if (packet === 'Close-Session') {
        expect(sha256(env.bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
      } else {
        expect(env.bed.uploads.objects.has(KEY)).toBe(false);
      }
    },
  );

  it('reads again before answering session-not-found when only the cached record has expired', async () => {
    const env = twoContainers({ sessionTimeoutSeconds: '600' });
    const file = randomBytes(3 * MiB);
    const id = await createSession(env.a);
    await fragment(env.a, id, file, 0, MiB); // A's record expires 600 s from now
    env.bed.clock.advance(500);
    await fragment(env.b, id, file, MiB, 2 * MiB); // progress elsewhere: the session lives on
    env.bed.clock.advance(200); // A's record has expired, the session has not
    const answer = await fragment(env.a, id, file, 2 * MiB, 3 * MiB);
    expect([answer.status, acked(answer)]).toEqual([200, 3 * MiB]);
  });

  it('answers session-not-found for a session that expired behind the cached record', async () => {
    const env = twoContainers();
    const file = randomBytes(2 * MiB);
    const id = await createSession(env.a);
    await fragment(env.a, id, file, 0, MiB);
    env.bed.sessions.expire(id, env.bed.clock.now()); // as the sweeper's clock would see it
    const answer = await fragment(env.a, id, file, MiB, 2 * MiB);
    expect([answer.status, answer.headers['bits-error-code']]).toEqual([500, '0x8020001F']);
    expect(env.bed.sessions.nextOffsetOf(id)).toBe(MiB);
  });

  it("refuses another principal's fragment on a cached session without writing anything", async () => {
    const env = twoContainers();
    const file = randomBytes(2 * MiB);
    const id = await createSession(env.a);
    await sendFragment(env.a, id, 0, file.subarray(0, MiB), file.length);
    const before = env.bed.uploads.bytesWritten;
    const foreign = await sendFragment(env.a, id, MiB, file.subarray(MiB), file.length, {
      principal: 'mallory',
    });
    expect([foreign.status, foreign.headers['bits-error-code']]).toEqual([500, '0x8020001F']);
    expect(env.bed.uploads.bytesWritten).toBe(before);
    expect(env.bed.sessions.nextOffsetOf(id)).toBe(MiB);
  });

  it('refuses a changed total from a consistent read, not from the cached record', async () => {
    const env = twoContainers();
    const file = randomBytes(2 * MiB);
    const id = await createSession(env.a);
    await fragment(env.a, id, file, 0, MiB);
    const changed = await sendFragment(env.a, id, MiB, file.subarray(MiB), file.length + 1);
    expect(changed.status).toBe(400);
    expect(env.reads()).toBe(2);
  });

  it('settles two environments committing the same fragment at once: both ack, one commit', async () => {
    const env = twoContainers();
    const file = randomBytes(PART + 3 * MiB);
    const id = await createSession(env.a);
    await fragment(env.a, id, file, 0, 3 * MiB);
    await fragment(env.b, id, file, 0, 3 * MiB); // both records: open at 3 MiB
    // Both complete part 1 from the same staged chunk; one commits, the other loses and reads.
    const [one, two] = await Promise.all([
      fragment(env.a, id, file, 3 * MiB, PART + MiB),
      fragment(env.b, id, file, 3 * MiB, PART + MiB),
    ]);
    expect([one?.status, acked(one as Answer), two?.status, acked(two as Answer)]).toEqual([
      200,
      PART + MiB,
      200,
      PART + MiB,
    ]);
    await fragment(env.b, id, file, PART + MiB, file.length);
    expect((await sendPacket(env.a, 'Close-Session', id)).status).toBe(200);
    expect(sha256(env.bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
    expect(leftovers(env.bed, id)).toMatchObject({ staged: 0, parts: 0, uploads: 0 });
  });

  it('stores every file exactly and acks the true offset whichever environment each request reaches', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        misbehaviourArbitrary(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (seed, misbehaviour, stickiness) => {
          const env = twoContainers();
          const random = prng(seed);
          const file = randomBytes(random() < 0.05 ? 0 : logUniform(random, 1, 3 * PART));
          const floor = Math.max(1, Math.ceil(file.length / 400));
          const fragmentSize = logUniform(random, floor, Math.max(floor, 3 * MiB));
          let current = env.a;
          // Each request goes to the environment of the one before it, or, with 1 - stickiness,
          // to the other one; every ack must name the offset the session really holds.
          const router: BitsLambdaHandler = async (event, context) => {
            if (random() >= stickiness) current = current === env.a ? env.b : env.a;
            const result = await current(event, context);
            const headers = (result as { headers?: Record<string, unknown> }).headers ?? {};
            const received = headers['BITS-Received-Content-Range'];
            const id = headers['BITS-Session-Id'];
            if (received !== undefined && typeof id === 'string') {
              expect(Number(received)).toBe(env.bed.sessions.nextOffsetOf(id));
            }
            return result;
          };
          const upload = await simulateUpload(router, file, {
            fragmentSize,
            minFragment: floor,
            random,
            misbehaviour,
          });
          expect(upload.close.status).toBe(200);
          expect(sha256(env.bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(file));
          expect(upload.statuses.get(500)).toBeUndefined();
          expect(leftovers(env.bed, upload.sessionId)).toMatchObject({ staged: 0, parts: 0, uploads: 0 });
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
