import { HEADERS } from '../protocol/headers';
import { parseSessionId } from '../protocol/session-id';
import { discardSession, loadSession } from './session-access';
import type { PacketHandler } from './types';

/**
 * Cancel-Session (MC-BUP §3.2.5.2.8): abort the upload and delete staged data and part records.
 * Repeating it, or cancelling a session already closed, is acked again (D12). A session sealed by a
 * Close that never finished is discarded too (a Close racing it then answers session-not-found).
 */
export const handleCancelSession: PacketHandler = async (request, deps) => {
  const sessionId = parseSessionId(request.headers[HEADERS.sessionId]);
  const session = await loadSession(deps, sessionId, request.principal);
  if (session.state === 'open' || session.state === 'closing') {
    await discardSession(deps, session);
    deps.metrics?.record('UploadsCancelled', 1);
  }
  return { status: 200, sessionId };
};
