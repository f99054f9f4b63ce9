import type { Context } from 'aws-lambda';
import { discardSession, releaseStorage, tombstoneExpiry } from '../handlers/session-access';
import type { HandlerDeps } from '../handlers/types';
import type { Session } from '../ports/session-store';
import type { ExpiredSessionSource } from './expired-sessions';
import type { SweepMetrics } from './sweep-metrics';

/**
 * States whose storage is still in use: `open`, and `closing` (a Close-Session sealed the session,
 * then died; once the session has expired nobody will retry it).
 */
export const UNFINISHED_STATES: ReadonlySet<string> = new Set(['open', 'closing']);
/** States of a finished session, whose record is kept as a tombstone until it expires. */
export const FINISHED_STATES: ReadonlySet<string> = new Set(['closed', 'cancelled']);

export interface SweeperOptions {
  /**
   * A record is swept only this long after it expired. Longer than the BITS function's timeout
   * (29 s), so no invocation that loaded the session before it expired can still be writing a part
   * or a staged chunk when the sweeper deletes them.
   */
  readonly graceSeconds: number;
  /** At most this many records handled per invocation; the next run picks up the rest. */
  readonly maxSessions: number;
  /** Stop starting new work when the invocation has less time left than this. */
  readonly reserveMs: number;
  /** Stop after this many records in a row failed: the back end is likely down. */
  readonly maxConsecutiveFailures: number;
}

export const DEFAULT_SWEEPER_OPTIONS: SweeperOptions = {
  graceSeconds: 300,
  maxSessions: 1000,
  reserveMs: 15_000,
  maxConsecutiveFailures: 5,
};

export interface SweepReport {
  /** Records that expired at or before this instant (epoch ms) were candidates. */
  readonly cutoff: number;
  readonly pages: number;
  /** Candidates examined (the scan may have returned more when the run stopped early). */
  readonly candidates: number;
  /** Abandoned sessions whose storage was released (recorded cancelled, or closed if Complete went through). */
  readonly discarded: number;
  /** Expired tombstones (closed or cancelled) whose leftovers were removed and whose record was deleted. */
  readonly forgotten: number;
  /** Candidates that had changed or disappeared when re-read. */
  readonly skipped: number;
  /** Records whose handling threw; they stay as they were, so the next run retries them. */
  readonly failed: number;
  /**
   * Candidates the run stopped before. After `max-sessions` the scan goes on to the end of the table
   * (while time allows) only to count them, which costs no more than a complete run; after the other
   * stops, only the rest of the page in hand is counted.
   */
  readonly left: number;
  /** True when the scan reached the end of the table. */
  readonly complete: boolean;
  /** Why the run ended before the end of the table, if it did. */
  readonly stoppedBy?: 'max-sessions' | 'deadline' | 'failures' | 'scan-error';
}

/** Thrown at the end of a run that left work behind because of errors (so Lambda counts an error). */
export class SweepIncompleteError extends Error {
  constructor(
    message: string,
    readonly report: SweepReport,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SweepIncompleteError';
  }
}

/**
 * Releases an abandoned session's storage. A `closing` session whose Complete went through (the
 * object at its key carries its id) is recorded as closed; everything else is discarded exactly as
 * Cancel-Session does (abort, cancelled, staged chunks and part records deleted).
 */
async function finishAbandoned(deps: HandlerDeps, session: Session): Promise<'closed' | 'cancelled'> {
  if (session.state === 'closing') {
    const existing = await deps.uploads.headObject(session.key);
    if (existing?.metadata['bits-session-id'] === session.id) {
      await deps.uploads.abortMultipartUpload({ key: session.key, uploadId: session.uploadId });
      await deps.sessions.finishSession(session.id, 'closed', tombstoneExpiry(deps));
      await releaseStorage(deps, session);
      return 'closed';
    }
  }
  await discardSession(deps, session);
  return 'cancelled';
}

export type SweeperHandler = (
  event?: unknown,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
) => Promise<SweepReport>;

/**
 * The scheduled sweeper (lambda/cleanup/README.md). It finds every session record that expired
 * (plus a grace period) and
 * - for an abandoned session (open or closing): discards it as Cancel-Session does, leaving a
 *   cancelled tombstone;
 * - for an expired tombstone (closed or cancelled): removes whatever a Close or Cancel that died
 *   half-way left behind (staged objects, part records, the upload), then deletes the record, so
 *   each finished session is looked at once more and then never again.
 * Every step is idempotent and the record changes last, so a sweeper that dies half-way leaves
 * work the next run finishes, and two overlapping runs do the same work twice without harm.
 *
 * An expired session is frozen for everyone else: every request path rejects it (loadSession) and
 * the fragment commit requires `expiresAt > now`, so nothing races the sweeper once the grace
 * period has passed.
 */
export function createSweeper(
  deps: HandlerDeps,
  source: ExpiredSessionSource,
  options: SweeperOptions = DEFAULT_SWEEPER_OPTIONS,
  metrics?: Pick<SweepMetrics, 'publish'>,
): SweeperHandler {
  return async (_event, context) => {
    const cutoff = deps.now() - options.graceSeconds * 1000;
    const outOfTime = () => context !== undefined && context.getRemainingTimeInMillis() < options.reserveMs;
    const counts = { pages: 0, candidates: 0, discarded: 0, forgotten: 0, skipped: 0, failed: 0, left: 0 };
    let consecutiveFailures = 0;
    let stoppedBy: SweepReport['stoppedBy'];
    let scanError: unknown;

    const sweepOne = async (id: string): Promise<void> => {
      // The scan is eventually consistent and may be old: act only on what a consistent read says.
      const session = await deps.sessions.getSession(id);
      if (session === undefined || session.expiresAt > cutoff) {
        counts.skipped += 1;
      } else if (UNFINISHED_STATES.has(session.state)) {
        const state = await finishAbandoned(deps, session);
        counts.discarded += 1;
        deps.logger.info('abandoned session released', {
          sessionId: id,
          state,
          key: session.key,
          expiresAt: new Date(session.expiresAt).toISOString(),
          bytesReceived: session.nextOffset,
        });
      } else if (FINISHED_STATES.has(session.state)) {
        await deps.uploads.abortMultipartUpload({ key: session.key, uploadId: session.uploadId });
        await releaseStorage(deps, session);
        await source.forget(session, cutoff);
        counts.forgotten += 1;
      } else {
        counts.skipped += 1;
      }
    };

    try {
      for await (const ids of source.pages(cutoff)) {
        counts.pages += 1;
        for (const id of ids) {
          if (stoppedBy !== undefined) {
            counts.left += 1;
            continue;
          }
          if (counts.discarded + counts.forgotten + counts.failed >= options.maxSessions) {
            stoppedBy = 'max-sessions';
          } else if (outOfTime()) stoppedBy = 'deadline';
          else if (consecutiveFailures >= options.maxConsecutiveFailures) stoppedBy = 'failures';
          if (stoppedBy !== undefined) {
            counts.left += 1;
            continue;
          }
          counts.candidates += 1;
          try {
            await sweepOne(id);
            consecutiveFailures = 0;
          } catch (error) {
            counts.failed += 1;
            consecutiveFailures += 1;
            deps.logger.error('sweeping a session failed; the next run retries it', { sessionId: id, error });
          }
        }
        // Counting what is left past max-sessions costs no more than a complete run; other stops end here.
        if (stoppedBy !== undefined && (stoppedBy !== 'max-sessions' || outOfTime())) break;
      }
    } catch (error) {
      if (stoppedBy === 'max-sessions') {
        // The work is done; only the count of what is left stays short.
        deps.logger.warn('counting the sessions left failed', { error });
      } else {
        stoppedBy = 'scan-error';
        scanError = error;
      }
    }

    const report: SweepReport = {
      cutoff,
      ...counts,
      complete: stoppedBy === undefined,
      ...(stoppedBy === undefined ? {} : { stoppedBy }),
    };
    try {
      metrics?.publish(report);
    } catch (error) {
      // Metrics are for the operator; a publishing fault never changes what the run reports.
      deps.logger.error('publishing sweep metrics failed', { error });
    }
    if (counts.failed > 0 || scanError !== undefined) {
      deps.logger.error('sweep incomplete', { ...report, error: scanError });
      throw new SweepIncompleteError(
        `sweep left ${counts.failed} failed sessions${scanError === undefined ? '' : ' and a failed scan'}`,
        report,
        scanError === undefined ? undefined : { cause: scanError },
      );
    }
    if (stoppedBy !== undefined)
      deps.logger.warn('sweep stopped early; the next run continues', { ...report });
    else deps.logger.info('sweep done', { ...report });
    return report;
  };
}
