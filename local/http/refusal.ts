import { BITS_ERRORS, type BitsErrorSpec, formatContext, formatHresult } from '../../lambda/protocol/errors';
import { RESPONSE_HEADERS } from '../../lambda/protocol/headers';
import { ACK_PACKET_TYPE } from '../../lambda/protocol/packet-types';
import type { FrontResponse } from './types';

/**
 * BITS error headers for answers the front gives without calling the application, so a BITS
 * client reads them like any other Ack (bits-protocol.md §1, §12 D1, D7, D20).
 */
function errorHeaders(spec: BitsErrorSpec): Record<string, string> {
  const hresult = formatHresult(spec.hresult ?? BITS_ERRORS.INVALID_ARGUMENT.hresult);
  return {
    [RESPONSE_HEADERS.packetType]: ACK_PACKET_TYPE,
    [RESPONSE_HEADERS.errorCode]: hresult,
    [RESPONSE_HEADERS.error]: hresult,
    [RESPONSE_HEADERS.errorContext]: formatContext(spec.context),
    [RESPONSE_HEADERS.pragma]: 'no-cache',
  };
}

/**
 * A request the front refuses itself (400, 408, 413, 417, 431, 501…): E_INVALIDARG, except a
 * body above the limit, which carries BG_E_TOO_LARGE like the application's own 413 so a
 * Windows client shrinks its fragments (platform.md §2, §12 D11).
 */
export function refusalResponse(status: number): FrontResponse {
  const spec = status === 413 ? BITS_ERRORS.FRAGMENT_TOO_LARGE : BITS_ERRORS.INVALID_ARGUMENT;
  return { statusCode: status, headers: errorHeaders(spec) };
}

/** The answer when the application callback throws or returns something unsendable. */
export function internalErrorResponse(): FrontResponse {
  return { statusCode: BITS_ERRORS.INTERNAL.status, headers: errorHeaders(BITS_ERRORS.INTERNAL) };
}
