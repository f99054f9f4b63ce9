import type { BitsLambdaHandler } from '../../lambda/create-handler';
import { type Answer, BITS_PROTOCOL, type BitsEventInput, send } from './events';

/** Sends Create-Session for `path` and returns the session id (fails the test if refused). */
export async function createSession(handler: BitsLambdaHandler, path = '/up/a.bin'): Promise<string> {
  const answer = await send(handler, {
    path,
    headers: { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL },
  });
  const id = answer.headers['bits-session-id'];
  if (answer.status !== 200 || id === undefined) throw new Error(`Create-Session answered ${answer.status}`);
  return id;
}

/** Sends bytes [first, first + body.length) of a `total`-byte file. */
export const sendFragment = (
  handler: BitsLambdaHandler,
  sessionId: string,
  first: number,
  body: Uint8Array,
  total: number,
  extra: Partial<BitsEventInput> = {},
): Promise<Answer> =>
  send(handler, {
    path: '/up/a.bin',
    body,
    ...extra,
    headers: {
      'BITS-Packet-Type': 'Fragment',
      'BITS-Session-Id': sessionId,
      'Content-Range': `bytes ${first}-${first + body.length - 1}/${total}`,
      ...extra.headers,
    },
  });

export const sendPacket = (
  handler: BitsLambdaHandler,
  packetType: string,
  sessionId?: string,
  extra: Partial<BitsEventInput> = {},
): Promise<Answer> =>
  send(handler, {
    path: '/up/a.bin',
    ...extra,
    headers: { 'BITS-Packet-Type': packetType, 'BITS-Session-Id': sessionId, ...extra.headers },
  });
