/**
 * Regression: PART# items carry no `ttl`, so nothing but an explicit deleteParts ever removes
 * them, and two paths leave them behind for good (invariant 4: "no part item of that session
 * remains"; DynamoDB TTL and S3 lifecycle rules do not cover them):
 *  1. A Fragment that uploaded a part before a concurrent Cancel-Session (or Close-Session D9
 *     discard) aborted the upload writes its PART item after the discard's deleteParts.
 *     (store-fragment.ts:73 putPart is unconditional; session-access.ts:88-101 deletes parts
 *     before the state change, and nothing deletes them after it.)
 *  2. Close-Session swallows a failing cleanup (close-session.ts:79-84, "lifecycle rules will
 *     remove the rest") — but no lifecycle rule removes PART items, and a retried Close on the
 *     closed record returns 200 without cleaning up.
 */
import { randomBytes } from 'node:crypto';
import { StoreUnavailableError } from '../../../lambda/ports/errors';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { gateCalls } from '../../helpers/gate';
import { makeTestBed } from '../../helpers/test-deps';

describe('regression: orphaned PART# items', () => {
  it('leaves no part item after Cancel-Session raced a fragment that uploaded a part', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    const data = randomBytes(1000); // one fragment = the whole file = part 1

    const g = gateCalls(bed.sessions, 'putPart');

    // e.g. API Gateway timed out the fragment (29 s) while its Lambda kept running; the user cancels.
    const fragment = sendFragment(bed.handler, id, 0, data, data.length);
    await g.arrived; // UploadPart done, PutItem PART#00001 not yet
    const cancel = await sendPacket(bed.handler, 'Cancel-Session', id);
    expect(cancel.status).toBe(200);
    g.open();
    await fragment;

    expect((await bed.sessions.getSession(id))?.state).toBe('cancelled');
    expect(bed.uploads.uploads.size).toBe(0);
    expect(bed.sessions.partCount(id)).toBe(0);
  });

  it('leaves no part item after a Close-Session whose cleanup failed once', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    const data = randomBytes(1000);
    expect((await sendFragment(bed.handler, id, 0, data, data.length)).status).toBe(200);

    const deleteParts = bed.sessions.deleteParts.bind(bed.sessions);
    let failures = 1;
    bed.sessions.deleteParts = async (sessionId) => {
      if (failures-- > 0) throw new StoreUnavailableError('injected: DynamoDB throttled');
      return deleteParts(sessionId);
    };

    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    // A retried Close (e.g. lost ack) does not clean up either.
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(bed.sessions.partCount(id)).toBe(0);
  });
});
