import { HEADERS } from '../protocol/headers';
import { readSessionId } from '../protocol/session-id';
import type { PacketHandler } from './types';

/** Ping: no session, no work; 200 Ack (MC-BUP §3.2.5.2.5, T01). A named session is echoed (D8). */
export const handlePing: PacketHandler = async (request) => {
  const sessionId = readSessionId(request.headers[HEADERS.sessionId]);
  return { status: 200, ...(sessionId === undefined ? {} : { sessionId }) };
};
