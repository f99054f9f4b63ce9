/**
 * Regression: a retried Close-Session for a 0-byte file (D9) is not idempotent when
 * overwrites are off. The first Close stored the empty object (PutObject with If-None-Match) but
 * failed before AbortMultipartUpload / the state change (transient error → 503, or a crash).
 * The Windows client retries Close on 5xx; the retry's PutObject finds *its own* object, takes it
 * for a foreign one (DestinationExistsError), discards the session and answers 403
 * E_ACCESSDENIED, which the client treats as fatal — although the upload succeeded.
 * Cause: lambda/handlers/close-session.ts commit(): the DestinationExistsError branch does not
 * check the object's bits-session-id metadata (the UploadNotFoundError branch does).
 */
import { StoreUnavailableError } from '../../../lambda/ports/errors';
import { createSession, sendPacket } from '../../helpers/bits-client-steps';
import { makeTestBed } from '../../helpers/test-deps';

describe('regression: retried Close-Session of a 0-byte file', () => {
  it('acks the retry when the first attempt already stored the empty object', async () => {
    const bed = makeTestBed(); // allowOverwrites = false (the default)
    const id = await createSession(bed.handler);

    const abort = bed.uploads.abortMultipartUpload.bind(bed.uploads);
    let failures = 1;
    bed.uploads.abortMultipartUpload = async (upload) => {
      if (failures-- > 0) throw new StoreUnavailableError('injected: S3 503 after retries');
      return abort(upload);
    };

    const first = await sendPacket(bed.handler, 'Close-Session', id);
    expect(first.status).toBe(503); // transient: the client retries Close-Session
    expect(bed.uploads.objects.get('uploads/up/a.bin')?.body.length).toBe(0);

    const retry = await sendPacket(bed.handler, 'Close-Session', id);
    expect(retry.status).toBe(200);
    expect(retry.headers['bits-error-code']).toBeUndefined();
    expect((await bed.sessions.getSession(id))?.state).toBe('closed');
  });
});
