import { HEADERS } from '../protocol/headers';
import { parseSessionId } from '../protocol/session-id';
import { discardSession, loadSession } from './session-access';
import type { PacketHandler } from './types';

/**
 * Cancel-Session (MC-BUP §3.2.5.2.8): abort the upload and delete staged data and part records.
 * Repeating it, or cancelling a session already closed, is acked again (D12).
 */
export const handleCancelSession: PacketHandler = async (request, deps) => {
  const sessionId = parseSessionId(request.headers[HEADERS.sessionId]);
  const session = await loadSession(deps, sessionId, request.principal);
  if (session.state === 'open') await discardSession(deps, session);
  return { status: 200, sessionId };
};
