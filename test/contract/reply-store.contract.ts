import { randomUUID } from 'node:crypto';
import { ObjectChangedError } from '../../lambda/ports/errors';
import type { SessionStore, StoredReply } from '../../lambda/ports/session-store';
import type { UploadStore } from '../../lambda/ports/upload-store';
import { makeSession } from './session-store.contract';

const NOW = Date.UTC(2026, 10, 23, 12);

async function collect(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * The upload-reply parts of the ports (claim, reply record, whole-object reads and deletes), run
 * against the in-memory fakes and the real adapters on the emulators.
 */
export function describeReplyStores(
  name: string,
  makeSessions: () => SessionStore | Promise<SessionStore>,
  makeUploads: () => UploadStore | Promise<UploadStore>,
): void {
  describe(`upload-reply store contract: ${name}`, () => {
    let sessions: SessionStore;
    beforeEach(async () => {
      sessions = await makeSessions();
    });

    const sealed = async () => {
      const session = makeSession({ state: 'closing', staged: [], nextOffset: 20 * 1024 * 1024 });
      await sessions.createSession(session);
      return session;
    };
    const reply: StoredReply = {
      url: 'BITS-Sessions/Replies/{X}/responsefile.bin',
      object: { key: 'bits-replies/{X}/1/responsefile.bin', size: 12, etag: '"e"', storedAt: NOW },
    };
    /** Claims until this instant, as notification attempts do, then records under it. */
    const CLAIM = NOW + 30_000;
    const claimed = async () => {
      const session = await sealed();
      await sessions.claimNotification(session.id, { now: NOW, until: CLAIM });
      return session;
    };

    it('lets one request claim the notification; others fail with the claim until it expires', async () => {
      const session = await sealed();
      expect(await sessions.claimNotification(session.id, { now: NOW, until: NOW + 30_000 })).toEqual({
        applied: true,
      });
      const second = await sessions.claimNotification(session.id, { now: NOW + 1000, until: NOW + 31_000 });
      expect(second.applied).toBe(false);
      expect(second.applied ? undefined : second.current?.notifyingUntil).toBe(NOW + 30_000);
      const late = await sessions.claimNotification(session.id, { now: NOW + 30_000, until: NOW + 60_000 });
      expect(late.applied).toBe(true);
      expect((await sessions.getSession(session.id))?.notifyingUntil).toBe(NOW + 60_000);
    });

    it('refuses a claim on an open or an expired session', async () => {
      const open = makeSession();
      await sessions.createSession(open);
      expect((await sessions.claimNotification(open.id, { now: NOW, until: NOW + 1 })).applied).toBe(false);
      const session = await sealed();
      const expired = await sessions.claimNotification(session.id, {
        now: session.expiresAt,
        until: session.expiresAt + 30_000,
      });
      expect(expired.applied).toBe(false);
    });

    it('refuses a claim that would outlive the session: its reply could not be downloaded', async () => {
      const session = await sealed();
      const late = await sessions.claimNotification(session.id, { now: NOW, until: session.expiresAt });
      expect(late.applied).toBe(false);
      expect(late.applied ? undefined : late.current?.notifyingUntil).toBeUndefined();
      const inTime = await sessions.claimNotification(session.id, { now: NOW, until: session.expiresAt - 1 });
      expect(inTime.applied).toBe(true);
    });

    it('records the reply once, dropping the claim; later claims and records see it', async () => {
      const session = await claimed();
      expect(await sessions.recordReply(session.id, CLAIM, reply)).toEqual({ applied: true });
      const stored = await sessions.getSession(session.id);
      expect(stored?.reply).toEqual(reply);
      expect(stored?.notifyingUntil).toBeUndefined();
      const again = await sessions.recordReply(session.id, CLAIM, { url: 'https://x.example/other' });
      expect(again.applied).toBe(false);
      expect(again.applied ? undefined : again.current?.reply).toEqual(reply);
      const claim = await sessions.claimNotification(session.id, { now: NOW + 60_000, until: NOW + 90_000 });
      expect(claim.applied ? undefined : claim.current?.reply).toEqual(reply);
    });

    it('records only under the claim the caller took: not once another request took it over, nor without one', async () => {
      const session = await claimed();
      // The first claim ran out; another request took the session over.
      const successor = await sessions.claimNotification(session.id, { now: CLAIM, until: CLAIM + 30_000 });
      expect(successor.applied).toBe(true);
      const stale = await sessions.recordReply(session.id, CLAIM, reply);
      expect(stale.applied).toBe(false);
      expect(stale.applied ? undefined : stale.current?.notifyingUntil).toBe(CLAIM + 30_000);
      expect(await sessions.recordReply(session.id, CLAIM + 30_000, reply)).toEqual({ applied: true });
      const unclaimed = await sealed();
      expect((await sessions.recordReply(unclaimed.id, CLAIM, reply)).applied).toBe(false);
      expect((await sessions.getSession(unclaimed.id))?.reply).toBeUndefined();
    });

    it('keeps a static reply without an object', async () => {
      const session = await claimed();
      await sessions.recordReply(session.id, CLAIM, { url: 'https://x.example/r' });
      expect((await sessions.getSession(session.id))?.reply).toEqual({ url: 'https://x.example/r' });
    });

    it('releases only the claim taken with the same instant', async () => {
      const session = await sealed();
      await sessions.claimNotification(session.id, { now: NOW, until: NOW + 30_000 });
      await sessions.releaseNotification(session.id, NOW + 1);
      expect((await sessions.getSession(session.id))?.notifyingUntil).toBe(NOW + 30_000);
      await sessions.releaseNotification(session.id, NOW + 30_000);
      expect((await sessions.getSession(session.id))?.notifyingUntil).toBeUndefined();
      await expect(sessions.releaseNotification(session.id, NOW + 30_000)).resolves.toBeUndefined();
    });

    it('refuses a reply once the session is closed or cancelled, and Close keeps the record readable', async () => {
      const session = await claimed();
      await sessions.recordReply(session.id, CLAIM, reply);
      expect((await sessions.finishSession(session.id, 'closed', NOW + 1000)).applied).toBe(true);
      const closed = await sessions.getSession(session.id);
      expect(closed?.state).toBe('closed');
      const other = await claimed();
      await sessions.finishSession(other.id, 'cancelled', NOW + 1000);
      expect((await sessions.recordReply(other.id, CLAIM, reply)).applied).toBe(false);
    });

    describe('whole objects', () => {
      let uploads: UploadStore;
      let prefix: string;
      beforeEach(async () => {
        uploads = await makeUploads();
        prefix = `contract-replies/${randomUUID()}/`;
      });

      it('reads an object whole and by inclusive byte range, telling the whole size', async () => {
        const key = `${prefix}responsefile.bin`;
        await uploads.putObject(key, Buffer.from('0123456789'), {}, { overwrite: true });
        const whole = await uploads.readObject(key);
        expect(whole?.size).toBe(10);
        expect((await collect(whole?.body ?? [])).toString()).toBe('0123456789');
        const part = await uploads.readObject(key, { start: 3, end: 6 });
        expect(part?.size).toBe(10);
        expect(part?.contentLength).toBe(4);
        expect((await collect(part?.body ?? [])).toString()).toBe('3456');
      });

      it('answers undefined for a missing object, and deletes objects (a missing one too)', async () => {
        const key = `${prefix}gone.bin`;
        expect(await uploads.readObject(key)).toBeUndefined();
        await uploads.putObject(key, Buffer.from('x'), {}, { overwrite: true });
        await uploads.deleteObject(key);
        expect(await uploads.readObject(key)).toBeUndefined();
        await expect(uploads.deleteObject(key)).resolves.toBeUndefined();
      });

      it('tells the ETag of an object, and a read pinned to it fails once another object is at the key', async () => {
        const key = `${prefix}1/responsefile.bin`;
        expect(await uploads.inspectObject(key)).toBeUndefined();
        await uploads.putObject(
          key,
          Buffer.from('0123456789'),
          { 'bits-session-id': '{E}' },
          { overwrite: true },
        );
        const first = await uploads.inspectObject(key);
        expect(first).toMatchObject({ size: 10, metadata: { 'bits-session-id': '{E}' } });
        expect(first?.etag).toMatch(/^".+"$/);
        const etag = first?.etag ?? '';
        const pinned = await uploads.readObject(key, { start: 2, end: 4 }, etag);
        expect((await collect(pinned?.body ?? [])).toString()).toBe('234');
        await uploads.putObject(key, Buffer.from('XYZ'), {}, { overwrite: true });
        expect((await uploads.inspectObject(key))?.etag).not.toBe(etag);
        await expect(uploads.readObject(key, { start: 5, end: 9 }, etag)).rejects.toBeInstanceOf(
          ObjectChangedError,
        );
        await expect(uploads.readObject(key, undefined, etag)).rejects.toBeInstanceOf(ObjectChangedError);
      });

      it('deletes a reply folder whole, every attempt in it, and nothing beside it', async () => {
        const folder = `${prefix}{S}/`;
        const keys = [`${folder}1/incoming.bin`, `${folder}1/responsefile.bin`, `${folder}2/incoming.bin`];
        for (const key of keys) await uploads.putObject(key, Buffer.from('r'), {}, { overwrite: true });
        const neighbour = `${prefix}{S2}/1/responsefile.bin`;
        await uploads.putObject(neighbour, Buffer.from('n'), {}, { overwrite: true });
        await uploads.deleteReplyFolder(folder);
        for (const key of keys) expect(await uploads.inspectObject(key)).toBeUndefined();
        expect((await uploads.inspectObject(neighbour))?.size).toBe(1);
        await expect(uploads.deleteReplyFolder(folder)).resolves.toBeUndefined();
      });
    });
  });
}
