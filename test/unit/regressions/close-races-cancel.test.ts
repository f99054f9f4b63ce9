/**
 * Regression: a Close-Session that loaded the open, complete session and then finds its part
 * records gone (a concurrent Cancel-Session — or the sweeper / a D9 discard — deleted them and
 * aborted the upload) answers 500 E_FAIL (INTERNAL) instead of re-reading the session and answering
 * BG_E_SESSION_NOT_FOUND like the UploadNotFoundError path does.
 * Cause: lambda/handlers/close-session.ts:11-18 (completedParts throws INTERNAL on a gap).
 */
import { randomBytes } from 'node:crypto';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { makeTestBed } from '../../helpers/test-deps';

describe('regression: Close-Session racing Cancel-Session', () => {
  it('answers BG_E_SESSION_NOT_FOUND, not 500 E_FAIL, when the parts vanished under it', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    const data = randomBytes(1000);
    expect((await sendFragment(bed.handler, id, 0, data, data.length)).status).toBe(200);

    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached!: () => void;
    const arrived = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const listParts = bed.sessions.listParts.bind(bed.sessions);
    bed.sessions.listParts = async (sessionId) => {
      reached();
      await released;
      return listParts(sessionId);
    };

    const close = sendPacket(bed.handler, 'Close-Session', id); // session loaded: open, complete
    await arrived;
    expect((await sendPacket(bed.handler, 'Cancel-Session', id)).status).toBe(200);
    release();
    const answer = await close;

    expect(bed.uploads.objects.has('uploads/up/a.bin')).toBe(false);
    expect(answer.headers['bits-error-code']).not.toBe('0x80004005');
  });
});
