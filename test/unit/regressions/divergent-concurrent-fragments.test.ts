/**
 * Regression: a request that LOSES the commit race has already uploaded its parts and written
 * its PART# items (store-fragment.ts:65-74), and nothing later checks that the part S3 holds, the
 * PART item and the committed session agree. Two concurrent fragments for the same range that
 * differ (different declared total on the first fragment, or different bytes) therefore:
 *  (a) make every later Close-Session answer 500 E_FAIL (InvalidPart at Complete is not mapped:
 *      close-session.ts:37-53) — client input → 500, and the client retries Close forever;
 *  (b) or let Close-Session complete an object whose size is not the session's declared total
 *      (completedParts, close-session.ts:11-18, checks part numbers only, not sizes).
 * Both requests are acked 200 (answerFromCurrent, fragment.ts:19-24, does not compare the total).
 */
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { gate } from '../../helpers/gate';
import { makeTestBed } from '../../helpers/test-deps';

describe('regression: concurrent fragments with different content for the same range', () => {
  it('(a) Close-Session never answers 500 E_FAIL because of them', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    const a = Buffer.alloc(1000, 0x61);
    const b = Buffer.alloc(1000, 0x62);

    const g = gate();
    const putPart = bed.sessions.putPart.bind(bed.sessions);
    let paused = false;
    bed.sessions.putPart = async (sessionId, part) => {
      if (!paused) {
        paused = true; // only the first caller (fragment A) waits
        g.reached();
        await g.opened;
      }
      return putPart(sessionId, part);
    };

    const first = sendFragment(bed.handler, id, 0, a, 1000); // uploads part 1, pauses before PART#1
    await g.arrived;
    expect((await sendFragment(bed.handler, id, 0, b, 1000)).status).toBe(200); // wins the commit
    g.open();
    expect((await first).status).toBe(200); // loser: acked too, but its PART#1 etag now names A

    const close = await sendPacket(bed.handler, 'Close-Session', id);
    expect(close.status).not.toBe(500);
    expect(close.headers['bits-error-code']).not.toBe('0x80004005');
  });

  it('(b) never completes an object whose size differs from the declared total', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    const whole = Buffer.alloc(1000, 0x61); // declares 1000 bytes
    const other = Buffer.alloc(500, 0x62); // same session, declares 500 bytes

    const g = gate();
    const uploadPart = bed.uploads.uploadPart.bind(bed.uploads);
    bed.uploads.uploadPart = async (upload, partNumber, body) => {
      if (body.length === 500) {
        g.reached();
        await g.opened;
      }
      return uploadPart(upload, partNumber, body);
    };

    const stale = sendFragment(bed.handler, id, 0, other, 500); // loads the session, pauses
    await g.arrived;
    expect((await sendFragment(bed.handler, id, 0, whole, 1000)).status).toBe(200); // commits total 1000
    g.open();
    expect((await stale).status).toBe(400); // lost the race to a different declared total: refused

    const close = await sendPacket(bed.handler, 'Close-Session', id);
    const object = bed.uploads.objects.get('uploads/up/a.bin');
    expect(close.status === 200 ? object?.body.length : 1000).toBe(1000);
  });
});
