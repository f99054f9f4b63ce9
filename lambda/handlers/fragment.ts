import { storeFragment } from '../assembler/store-fragment';
import type { Session } from '../ports/session-store';
import { type ContentRange, parseContentRange, rangeLength } from '../protocol/content-range';
import { BitsError } from '../protocol/errors';
import { HEADERS } from '../protocol/headers';
import type { BitsAck } from '../protocol/response';
import { parseSessionId } from '../protocol/session-id';
import { loadOpenSession } from './session-access';
import type { HandlerDeps, PacketHandler } from './types';

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

/** The declared total is fixed by the first fragment and bounded by the maximum upload size. */
function checkTotal(session: Session, range: ContentRange, deps: HandlerDeps): void {
  if (session.totalSize === undefined) {
    if (range.total > deps.config.maxUploadSize) {
      throw new BitsError('UPLOAD_TOO_LARGE', `declared ${range.total} bytes`);
    }
  } else if (range.total !== session.totalSize) {
    throw new BitsError('INVALID_ARGUMENT', `total changed from ${session.totalSize} to ${range.total}`);
  }
}

/**
 * Fragment (MC-BUP §3.2.5.2.6, design.md): a gap gets 416 and nothing is written; bytes already held
 * are acknowledged without a write; an overlap keeps only the new bytes.
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
  const session = await loadOpenSession(deps, sessionId, request.principal);
  checkTotal(session, range, deps);
  if (range.first > session.nextOffset) return ackAt(416, session);
  if (range.last < session.nextOffset) return ackAt(200, session);
  const fresh = request.body.subarray(session.nextOffset - range.first);
  const outcome = await storeFragment(deps, session, range.total, fresh);
  if (!outcome.committed) return answerFromCurrent(outcome.current, range, deps);
  return { status: 200, sessionId, receivedContentRange: range.last + 1 };
};
