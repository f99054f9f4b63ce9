import { storeFragment } from '../assembler/store-fragment';
import type { Session } from '../ports/session-store';
import { type ContentRange, parseContentRange, rangeLength } from '../protocol/content-range';
import { BitsError } from '../protocol/errors';
import { HEADERS } from '../protocol/headers';
import { MAX_FUNCTION_BY_VALUE_BYTES } from '../protocol/reply';
import type { BitsRequest } from '../protocol/request';
import type { BitsAck } from '../protocol/response';
import { parseSessionId } from '../protocol/session-id';
import { loadSession } from './session-access';
import type { HandlerDeps, PacketHandler } from './types';
import { acknowledgeWithReply, notificationsOn } from './upload-reply';

/** Every Fragment ack carries the next expected offset, 200 or 416 (§12 D6). */
const ackAt = (status: 200 | 416, session: Session): BitsAck => ({
  status,
  sessionId: session.id,
  receivedContentRange: session.nextOffset,
});

/** Answer after losing a race: 200 if the bytes are now held, otherwise 416 to resync; never 500. */
function answerFromCurrent(current: Session | undefined, range: ContentRange, deps: HandlerDeps): BitsAck {
  if (current === undefined || current.state !== 'open' || current.expiresAt <= deps.now()) {
    throw new BitsError('SESSION_NOT_FOUND', 'session ended during the fragment');
  }
  if (current.totalSize !== undefined && current.totalSize !== range.total) {
    throw new BitsError('INVALID_ARGUMENT', `total ${range.total} differs from ${current.totalSize}`);
  }
  return ackAt(current.nextOffset > range.last ? 200 : 416, current);
}

/**
 * The declared total is fixed by the first fragment and bounded by the maximum upload size, and by
 * what one invoke can carry when the upload goes by value to a Lambda function.
 */
function checkTotal(session: Session, range: ContentRange, deps: HandlerDeps): void {
  const { maxUploadSize, notificationType, notificationFunction } = deps.config;
  if (session.totalSize === undefined) {
    if (range.total > maxUploadSize) {
      throw new BitsError('UPLOAD_TOO_LARGE', `declared ${range.total} bytes`);
    }
    const byValueToFunction = notificationType === 'by-value' && notificationFunction !== undefined;
    if (byValueToFunction && range.total > MAX_FUNCTION_BY_VALUE_BYTES) {
      throw new BitsError('UPLOAD_TOO_LARGE', `declared ${range.total} bytes, by value to a function`);
    }
  } else if (range.total !== session.totalSize) {
    throw new BitsError('INVALID_ARGUMENT', `total changed from ${session.totalSize} to ${range.total}`);
  }
}

/**
 * Fragment (MC-BUP §3.2.5.2.6, design.md): a gap gets 416 and nothing is written; bytes already held
 * are acknowledged without a write; an overlap keeps only the new bytes. With notifications on, the
 * fragment that completes the upload (or any retry after it) gets the upload-reply final ack.
 */
export const handleFragment: PacketHandler = async (request, deps) => {
  const sessionId = parseSessionId(request.headers[HEADERS.sessionId]);
  if (request.body.length > deps.config.maxFragmentSize) {
    throw new BitsError('FRAGMENT_TOO_LARGE', `${request.body.length} bytes`);
  }
  const range = parseContentRange(request.headers[HEADERS.contentRange]);
  if (rangeLength(range) !== request.body.length) {
    throw new BitsError('INVALID_ARGUMENT', 'Content-Range length differs from the body');
  }
  if (await commitOnCachedRecord(deps, sessionId, request, range)) {
    return ackCommitted(deps, sessionId, request, range);
  }
  const session = await loadSession(deps, sessionId, request.principal);
  deps.sessionCache?.set(session);
  // Upload-reply: everything arrived; a retry gets the final ack again, reply included. Only for a
  // session its fragments completed: a 0-byte one a Close sealed has no total, and notifies nothing.
  if (session.state === 'closing' && notificationsOn(deps) && session.totalSize !== undefined) {
    checkTotal(session, range, deps);
    return acknowledgeWithReply(deps, session, request);
  }
  if (session.state !== 'open')
    throw new BitsError('SESSION_NOT_FOUND', `session ${sessionId} is ${session.state}`);
  checkTotal(session, range, deps);
  if (range.first > session.nextOffset) return ackAt(416, session);
  if (range.last < session.nextOffset)
    return complete(session, deps) ? finalAck(deps, session, request) : ackAt(200, session);
  const fresh = request.body.subarray(session.nextOffset - range.first);
  const outcome = await storeFragment(deps, session, range.total, fresh);
  if (!outcome.committed) {
    // A concurrent request completed (and maybe sealed) the session: its final ack is ours too.
    const current = outcome.current;
    if (current !== undefined && complete(current, deps) && current.totalSize === range.total) {
      return finalAck(deps, current, request);
    }
    return answerFromCurrent(current, range, deps);
  }
  return ackCommitted(deps, sessionId, request, range);
};

/** The answer to a fragment whose bytes this request committed. */
async function ackCommitted(
  deps: HandlerDeps,
  sessionId: string,
  request: BitsRequest,
  range: ContentRange,
): Promise<BitsAck> {
  if (range.last + 1 === range.total && notificationsOn(deps)) {
    // The record now holds the part size and total the commit needs.
    return finalAck(deps, await loadSession(deps, sessionId, request.principal), request);
  }
  return { status: 200, sessionId, receivedContentRange: range.last + 1 };
}

/**
 * Commits the fragment on the record this environment saw last (deps.sessionCache), skipping the
 * read, when that record says the fragment extends the upload: open, the caller's, unexpired, the
 * same declared total, and the fragment starting at or before the acknowledged offset and ending
 * past it. Every other answer (416, already held, not found, a wrong total, a final ack) is left to
 * a consistent read, so a stale record never decides one. A stale record that gets this far loses
 * the conditional commit, which names the offset it was planned from, or finds its upload or staged
 * chunks gone: then this returns false and the request starts over from a consistent read, the
 * attempt's writes being the same bytes under the same part numbers and keys, or unreferenced.
 */
async function commitOnCachedRecord(
  deps: HandlerDeps,
  sessionId: string,
  request: BitsRequest,
  range: ContentRange,
): Promise<boolean> {
  const session = deps.sessionCache?.get(sessionId);
  if (
    session === undefined ||
    session.owner !== request.principal ||
    session.state !== 'open' ||
    session.expiresAt <= deps.now() ||
    session.totalSize !== range.total ||
    range.first > session.nextOffset ||
    range.last < session.nextOffset
  ) {
    return false;
  }
  const fresh = request.body.subarray(session.nextOffset - range.first);
  try {
    return (await storeFragment(deps, session, range.total, fresh)).committed;
  } catch (error) {
    // The upload or the staged data is gone: whether the session is, a consistent read tells.
    if (error instanceof BitsError && error.errorName === 'SESSION_NOT_FOUND') return false;
    throw error;
  }
}

/** An upload-reply session that holds every byte: its acks are final acks. */
const complete = (session: Session, deps: HandlerDeps): boolean =>
  notificationsOn(deps) && session.totalSize !== undefined && session.nextOffset === session.totalSize;

/** The final ack of an upload-reply session (a sealed one answers the same way, above). */
function finalAck(deps: HandlerDeps, session: Session, request: BitsRequest): Promise<BitsAck> {
  if (session.state !== 'open' && session.state !== 'closing') {
    throw new BitsError('SESSION_NOT_FOUND', `session ${session.id} is ${session.state}`);
  }
  return acknowledgeWithReply(deps, session, request);
}
