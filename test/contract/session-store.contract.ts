import { randomUUID } from 'node:crypto';
import { SessionExistsError } from '../../lambda/ports/errors';
import type { PartRecord, Session, SessionProgress, SessionStore } from '../../lambda/ports/session-store';

const NOW = Date.UTC(2026, 10, 23, 12);
const HOUR = 3600 * 1000;

/** An open session with one staged chunk, unique per call so tests never share records. */
export function makeSession(overrides: Partial<Session> = {}): Session {
  const id = `{${randomUUID().toUpperCase()}}`;
  return {
    id,
    key: `uploads/contract/${id}.bin`,
    originalPath: '/contract/file.bin',
    uploadId: `upload-${randomUUID()}`,
    owner: 'DOMAIN\\alice',
    state: 'open',
    totalSize: 20 * 1024 * 1024,
    partSize: 8 * 1024 * 1024,
    nextOffset: 9 * 1024 * 1024,
    partsDone: 1,
    staged: [
      {
        start: 8 * 1024 * 1024,
        end: 9 * 1024 * 1024,
        checksum: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
        level: 0,
      },
    ],
    createdAt: NOW - HOUR,
    expiresAt: NOW + HOUR,
    ...overrides,
  };
}

const progressFrom = (session: Session, overrides: Partial<SessionProgress> = {}): SessionProgress => ({
  totalSize: session.totalSize ?? 20 * 1024 * 1024,
  partSize: session.partSize ?? 8 * 1024 * 1024,
  nextOffset: session.nextOffset + 1024,
  partsDone: session.partsDone,
  staged: [
    ...session.staged,
    {
      start: session.nextOffset,
      end: session.nextOffset + 1024,
      checksum: 'AAAA',
      level: 0,
    },
  ],
  expiresAt: NOW + 2 * HOUR,
  ...overrides,
});

const part = (partNumber: number, etag = `"etag-${partNumber}"`): PartRecord => ({
  partNumber,
  etag,
  size: 8 * 1024 * 1024,
});

/** Writes parts a few at a time: enough concurrency to be quick, little enough not to throttle. */
async function putParts(store: SessionStore, id: string, parts: readonly PartRecord[]): Promise<void> {
  for (let index = 0; index < parts.length; index += 20) {
    await Promise.all(parts.slice(index, index + 20).map((record) => store.putPart(id, record)));
  }
}

/**
 * The SessionStore contract. The same assertions run against the in-memory fake (which the
 * handler tests rely on) and the DynamoDB adapter on DynamoDB Local, so the fake cannot drift.
 * `make` is called before each test; records are keyed by fresh ids, so stores may share a table.
 */
export function describeSessionStore(name: string, make: () => SessionStore | Promise<SessionStore>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let store: SessionStore;
    beforeEach(async () => {
      store = await make();
    });

    describe('createSession / getSession', () => {
      it('reads back exactly the record it stored', async () => {
        const session = makeSession();
        await store.createSession(session);
        expect(await store.getSession(session.id)).toEqual(session);
      });

      it('round-trips a fresh session without totalSize, partSize or staged chunks', async () => {
        const { totalSize: _total, partSize: _part, ...rest } = makeSession();
        const session: Session = { ...rest, nextOffset: 0, partsDone: 0, staged: [] };
        await store.createSession(session);
        const stored = await store.getSession(session.id);
        expect(stored).toEqual(session);
        expect(stored).not.toHaveProperty('totalSize');
      });

      it('refuses a second session with the same id and keeps the first', async () => {
        const session = makeSession();
        await store.createSession(session);
        await expect(store.createSession({ ...session, owner: 'DOMAIN\\mallory' })).rejects.toBeInstanceOf(
          SessionExistsError,
        );
        expect((await store.getSession(session.id))?.owner).toBe('DOMAIN\\alice');
      });

      it('returns undefined for an unknown id', async () => {
        expect(await store.getSession(makeSession().id)).toBeUndefined();
      });

      it('still returns an expired record (callers check expiresAt)', async () => {
        const session = makeSession({ expiresAt: NOW - HOUR });
        await store.createSession(session);
        expect(await store.getSession(session.id)).toEqual(session);
      });
    });

    describe('advanceSession', () => {
      it('applies progress to an open, unexpired session at the expected offset', async () => {
        const session = makeSession();
        await store.createSession(session);
        const progress = progressFrom(session, { partsDone: 2 });
        const result = await store.advanceSession(
          session.id,
          { nextOffset: session.nextOffset, now: NOW },
          progress,
        );
        expect(result).toEqual({ applied: true });
        expect(await store.getSession(session.id)).toEqual({ ...session, ...progress });
      });

      it('keeps the stored expiry when the progress names none, and still checks it', async () => {
        const session = makeSession();
        await store.createSession(session);
        const { expiresAt: _expiry, ...progress } = progressFrom(session, { partsDone: 2 });
        expect(
          await store.advanceSession(session.id, { nextOffset: session.nextOffset, now: NOW }, progress),
        ).toEqual({ applied: true });
        expect(await store.getSession(session.id)).toEqual({
          ...session,
          ...progress,
          expiresAt: session.expiresAt,
        });
        const late = await store.advanceSession(
          session.id,
          { nextOffset: progress.nextOffset, now: session.expiresAt },
          { ...progress, nextOffset: progress.nextOffset + 1 },
        );
        expect(late.applied).toBe(false);
      });

      it('sets totalSize and partSize on a session that had none', async () => {
        const { totalSize: _total, partSize: _part, ...rest } = makeSession();
        const session: Session = { ...rest, nextOffset: 0, partsDone: 0, staged: [] };
        await store.createSession(session);
        const progress = progressFrom(session, { totalSize: 4096, partSize: 5 * 1024 * 1024, staged: [] });
        await expect(
          store.advanceSession(session.id, { nextOffset: 0, now: NOW }, progress),
        ).resolves.toEqual({
          applied: true,
        });
        expect(await store.getSession(session.id)).toEqual({ ...session, ...progress });
      });

      it('refuses a stale offset and returns the current record unchanged', async () => {
        const session = makeSession();
        await store.createSession(session);
        const result = await store.advanceSession(
          session.id,
          { nextOffset: session.nextOffset - 1, now: NOW },
          progressFrom(session),
        );
        expect(result).toEqual({ applied: false, current: session });
        expect(await store.getSession(session.id)).toEqual(session);
      });

      it('refuses once expiresAt is reached and returns the current record', async () => {
        const session = makeSession();
        await store.createSession(session);
        const result = await store.advanceSession(
          session.id,
          { nextOffset: session.nextOffset, now: session.expiresAt },
          progressFrom(session),
        );
        expect(result).toEqual({ applied: false, current: session });
      });

      it('refuses a session that is no longer open and returns it', async () => {
        const session = makeSession();
        await store.createSession(session);
        await store.finishSession(session.id, 'closed', NOW + 24 * HOUR);
        const result = await store.advanceSession(
          session.id,
          { nextOffset: session.nextOffset, now: NOW },
          progressFrom(session),
        );
        expect(result).toEqual({
          applied: false,
          current: { ...session, state: 'closed', expiresAt: NOW + 24 * HOUR, staged: [] },
        });
      });

      it('refuses an unknown session without creating it', async () => {
        const session = makeSession();
        const result = await store.advanceSession(
          session.id,
          { nextOffset: session.nextOffset, now: NOW },
          progressFrom(session),
        );
        expect(result).toEqual({ applied: false });
        expect(await store.getSession(session.id)).toBeUndefined();
      });

      it('lets exactly one of two racing updates from the same offset win', async () => {
        const session = makeSession();
        await store.createSession(session);
        const expected = { nextOffset: session.nextOffset, now: NOW };
        const results = await Promise.all([
          store.advanceSession(
            session.id,
            expected,
            progressFrom(session, { nextOffset: session.nextOffset + 1 }),
          ),
          store.advanceSession(
            session.id,
            expected,
            progressFrom(session, { nextOffset: session.nextOffset + 2 }),
          ),
        ]);
        expect(results.filter((result) => result.applied)).toHaveLength(1);
        // The loser sees the winner's write, which is what the handler answers from.
        expect(results).toContainEqual({ applied: false, current: await store.getSession(session.id) });
      });
    });

    describe('finishSession', () => {
      it.each(['closed', 'cancelled'] as const)(
        'moves an open session to %s with the new expiry and no staged chunks',
        async (state) => {
          const session = makeSession();
          await store.createSession(session);
          const result = await store.finishSession(session.id, state, NOW + 24 * HOUR);
          expect(result).toEqual({ applied: true });
          expect(await store.getSession(session.id)).toEqual({
            ...session,
            state,
            expiresAt: NOW + 24 * HOUR,
            staged: [],
          });
        },
      );

      it('seals a session as closing only at the expected offset, then closes it', async () => {
        const session = makeSession();
        await store.createSession(session);
        const stale = await store.finishSession(session.id, 'closing', NOW + HOUR, { nextOffset: 1 });
        expect(stale).toEqual({ applied: false, current: session });
        const sealed = await store.finishSession(session.id, 'closing', NOW + HOUR, {
          nextOffset: session.nextOffset,
        });
        expect(sealed).toEqual({ applied: true });
        expect((await store.getSession(session.id))?.state).toBe('closing');
        expect(await store.finishSession(session.id, 'closed', NOW + 24 * HOUR)).toEqual({ applied: true });
        expect((await store.getSession(session.id))?.state).toBe('closed');
      });

      it('refuses a session already finished and returns it', async () => {
        const session = makeSession();
        await store.createSession(session);
        await store.finishSession(session.id, 'cancelled', NOW + 24 * HOUR);
        const result = await store.finishSession(session.id, 'closed', NOW + 48 * HOUR);
        expect(result).toEqual({
          applied: false,
          current: { ...session, state: 'cancelled', expiresAt: NOW + 24 * HOUR, staged: [] },
        });
      });

      it('refuses an unknown session without creating it', async () => {
        const { id } = makeSession();
        expect(await store.finishSession(id, 'closed', NOW)).toEqual({ applied: false });
        expect(await store.getSession(id)).toBeUndefined();
      });
    });

    describe('countOpenSessions', () => {
      /** An owner no other test uses: stores on DynamoDB Local share one table across tests. */
      const freshOwner = () => `DOMAIN\\owner-${randomUUID()}`;

      it("counts the owner's open, unexpired sessions and nothing else", async () => {
        const owner = freshOwner();
        const open = [makeSession({ owner }), makeSession({ owner }), makeSession({ owner })];
        const closed = makeSession({ owner });
        const cancelled = makeSession({ owner });
        const expired = makeSession({ owner, expiresAt: NOW - 1 });
        const expiringNow = makeSession({ owner, expiresAt: NOW });
        const foreign = makeSession({ owner: freshOwner() });
        for (const session of [...open, closed, cancelled, expired, expiringNow, foreign]) {
          await store.createSession(session);
        }
        await store.finishSession(closed.id, 'closed', NOW + 24 * HOUR);
        await store.finishSession(cancelled.id, 'cancelled', NOW + 24 * HOUR);

        expect(await store.countOpenSessions(owner, NOW)).toBe(3);
      });

      it('answers 0 for an owner without sessions', async () => {
        expect(await store.countOpenSessions(freshOwner(), NOW)).toBe(0);
      });

      it('stops counting a session once its expiry passes, and counts one whose expiry moved on', async () => {
        const owner = freshOwner();
        const session = makeSession({ owner, expiresAt: NOW + HOUR });
        await store.createSession(session);
        expect(await store.countOpenSessions(owner, NOW + HOUR - 1)).toBe(1);
        expect(await store.countOpenSessions(owner, NOW + HOUR)).toBe(0);
        await store.advanceSession(
          session.id,
          { nextOffset: session.nextOffset, now: NOW },
          progressFrom(session, { expiresAt: NOW + 3 * HOUR }),
        );
        expect(await store.countOpenSessions(owner, NOW + 2 * HOUR)).toBe(1);
      });

      it('counts every session across result pages, with closed ones in between', async () => {
        const owner = freshOwner();
        const sessions = Array.from({ length: 40 }, () => makeSession({ owner }));
        for (let index = 0; index < sessions.length; index += 10) {
          await Promise.all(sessions.slice(index, index + 10).map((session) => store.createSession(session)));
        }
        for (const session of sessions.filter((_, index) => index % 4 === 0)) {
          await store.finishSession(session.id, 'closed', NOW + 24 * HOUR);
        }
        expect(await store.countOpenSessions(owner, NOW)).toBe(30);
      });
    });

    describe('part records', () => {
      it('lists no parts for a session without any', async () => {
        expect(await store.listParts(makeSession().id)).toEqual([]);
      });

      it('replaces a part written again under the same number', async () => {
        const { id } = makeSession();
        await store.putPart(id, part(1, '"first"'));
        await store.putPart(id, { partNumber: 1, etag: '"second"', size: 1234 });
        expect(await store.listParts(id)).toEqual([{ partNumber: 1, etag: '"second"', size: 1234 }]);
      });

      it('keeps a part checksum with its record, and a record without one stays without', async () => {
        const { id } = makeSession();
        await store.putPart(id, { partNumber: 1, etag: '"a"', size: 10, checksum: 'y/Q5Jg==' });
        await store.putPart(id, { partNumber: 2, etag: '"b"', size: 5 });
        expect(await store.listParts(id)).toEqual([
          { partNumber: 1, etag: '"a"', size: 10, checksum: 'y/Q5Jg==' },
          { partNumber: 2, etag: '"b"', size: 5 },
        ]);
      });

      it('lists parts in ascending numeric order whatever the write order', async () => {
        const { id } = makeSession();
        const numbers = [10_000, 2, 100, 1, 1000, 10, 9, 999];
        await putParts(
          store,
          id,
          numbers.map((n) => part(n)),
        );
        expect((await store.listParts(id)).map((record) => record.partNumber)).toEqual([
          1, 2, 9, 10, 100, 999, 1000, 10_000,
        ]);
      });

      it('lists all of more than a hundred parts, across result pages', async () => {
        const { id } = makeSession();
        const numbers = Array.from({ length: 130 }, (_, index) => 130 - index);
        await putParts(
          store,
          id,
          numbers.map((n) => part(n)),
        );
        const listed = await store.listParts(id);
        expect(listed).toHaveLength(130);
        expect(listed).toEqual(numbers.map((n) => part(n)).reverse());
      });

      it("keeps each session's parts apart", async () => {
        const first = makeSession();
        const second = makeSession();
        await store.putPart(first.id, part(1, '"first"'));
        await store.putPart(second.id, part(1, '"second"'));
        expect(await store.listParts(first.id)).toEqual([part(1, '"first"')]);
      });

      it("deletes every part of a session and nothing else: not its record, not another's parts", async () => {
        const session = makeSession();
        const other = makeSession();
        await store.createSession(session);
        await putParts(
          store,
          session.id,
          Array.from({ length: 60 }, (_, index) => part(index + 1)),
        );
        await store.putPart(other.id, part(1));
        await store.deleteParts(session.id);
        expect(await store.listParts(session.id)).toEqual([]);
        expect(await store.getSession(session.id)).toEqual(session);
        expect(await store.listParts(other.id)).toEqual([part(1)]);
      });

      it('deletes parts of a session that has none without complaint', async () => {
        await expect(store.deleteParts(makeSession().id)).resolves.toBeUndefined();
      });
    });
  });
}
