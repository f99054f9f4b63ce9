/**
 * Regression (fixed by sealing the session as `closing` at the offset Close read): Close-Session's state change is conditional only on `state = open`, not on the
 * offset/total it decided on. A Close that loaded the session before any fragment committed takes
 * the 0-byte path (D9): PutObject of an EMPTY object at the destination, Abort of the multipart
 * upload, state → closed. If the first fragment commits in between (200 to the client), the
 * acknowledged bytes are thrown away and an empty (partial) object sits at the destination with
 * a 200 for Close: invariants 1 and 5 broken.
 * Cause: lambda/handlers/close-session.ts:26-35 (0-byte path decided on a stale read) and :73
 * (finishSession not conditioned on nextOffset / attribute_not_exists(totalSize)).
 */
import { randomBytes } from 'node:crypto';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { gateCalls } from '../../helpers/gate';
import { makeTestBed } from '../../helpers/test-deps';

describe('regression: Close-Session racing the first Fragment', () => {
  it('never leaves an empty object at the destination after a fragment with data was acked', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    const data = randomBytes(1000);

    const g = gateCalls(bed.uploads, 'putObject');

    const close = sendPacket(bed.handler, 'Close-Session', id); // loads the session: no total yet
    await g.arrived;
    const fragment = await sendFragment(bed.handler, id, 0, data, data.length);
    g.open();
    const closed = await close;

    const object = bed.uploads.objects.get('uploads/up/a.bin');
    // Close sealed the session first, so the fragment is refused rather than acked and lost.
    expect([fragment.status, fragment.headers['bits-error-code']]).toEqual([500, '0x8020001F']);
    expect(closed.status).toBe(200);
    expect(object?.body.length).toBe(0);
    // Had the fragment been acked, acked bytes must never be missing from a closed object.
    if (fragment.status === 200 && closed.status === 200) expect(object?.body.equals(data)).toBe(true);
  });
});
