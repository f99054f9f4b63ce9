/**
 * Regression: the session timeout counts from the LAST PROGRESS (D21, storeFragment sets
 * expiresAt = now + timeout on every commit), but the bucket's lifecycle rules count from the
 * object's / upload's CREATION: `abortIncompleteMultipartUploadAfter` and `expiration` of the
 * staging prefix, both ceil((timeout + 1 day) / 1 day) days (infra/settings.ts:276,
 * infra/constructs/upload-storage.ts:46-58). A BITS job that resumes every few days (laptop
 * suspended, BITS idle) keeps its session open past day 15, while S3 has already aborted its
 * multipart upload and deleted its oldest staged chunks.
 * The server then keeps acknowledging fragments into storage that is gone; at the next part
 * boundary the missing staged chunk is taken for a lost race (store-fragment.ts:56-61) and the
 * client is told 416 at the same offset forever (fragment.ts:23) — a livelock until the session
 * finally times out, after which the whole upload starts over.
 * A fix must either cap a session's life at the lifecycle horizon (expiresAt ≤ createdAt +
 * lifecycle days − margin, so the client gets BG_E_SESSION_NOT_FOUND and restarts cleanly) or
 * refresh/extend the storage (lifecycle horizon ≥ the maximum session life).
 */
import { randomBytes } from 'node:crypto';
import { createSession, sendFragment } from '../../helpers/bits-client-steps';
import { makeTestBed } from '../../helpers/test-deps';

const MiB = 1024 * 1024;
const DAY_MS = 86_400_000;

describe('regression: S3 lifecycle horizon vs. progress-based session expiry', () => {
  it('a job that resumes every 10 days either completes or is restarted, never livelocks', async () => {
    const bed = makeTestBed({ maxFragmentSize: String(MiB) });
    const timeout = bed.deps.config.sessionTimeoutSeconds;
    const lifecycleDays = Math.max(1, Math.ceil((timeout + 86_400) / 86_400)); // infra/settings.ts

    // Remember when S3 created each upload and staged object, and apply the lifecycle rules.
    const born = new Map<string, number>();
    const create = bed.uploads.createMultipartUpload.bind(bed.uploads);
    bed.uploads.createMultipartUpload = async (key, metadata) => {
      const upload = await create(key, metadata);
      born.set(`upload:${upload.uploadId}`, bed.clock.now());
      return upload;
    };
    const stage = bed.uploads.putStagedChunk.bind(bed.uploads);
    bed.uploads.putStagedChunk = async (key, body, sha256) => {
      born.set(`object:${key}`, bed.clock.now());
      return stage(key, body, sha256);
    };
    const applyLifecycle = () => {
      const horizon = bed.clock.now() - lifecycleDays * DAY_MS;
      for (const [id, at] of born) {
        if (at > horizon) continue;
        if (id.startsWith('upload:')) bed.uploads.uploads.delete(id.slice('upload:'.length));
        else bed.uploads.objects.delete(id.slice('object:'.length));
      }
    };

    const file = randomBytes(10 * MiB);
    let id = await createSession(bed.handler);
    // Day 0 and day 10: one fragment each, then the machine sleeps. The session stays open.
    expect((await sendFragment(bed.handler, id, 0, file.subarray(0, MiB), file.length)).status).toBe(200);
    bed.clock.advance(10 * 86_400);
    expect((await sendFragment(bed.handler, id, MiB, file.subarray(MiB, 2 * MiB), file.length)).status).toBe(
      200,
    );
    bed.clock.advance(10 * 86_400); // day 20: the session (expires day 24) is still open
    applyLifecycle();

    // A Windows-like client: follows BITS-Received-Content-Range, restarts on BG_E_SESSION_NOT_FOUND.
    let offset = 2 * MiB;
    let requests = 0;
    while (offset < file.length && requests < 200) {
      requests += 1;
      const answer = await sendFragment(
        bed.handler,
        id,
        offset,
        file.subarray(offset, offset + MiB),
        file.length,
      );
      if (answer.headers['bits-error-code'] === '0x8020001F') {
        id = await createSession(bed.handler);
        offset = 0;
      } else {
        offset = Number(answer.headers['bits-received-content-range']);
      }
    }
    expect(offset).toBe(file.length); // currently: stuck at 7 MiB, answered 416 at 7 MiB every time
  });
});
