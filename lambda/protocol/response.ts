import { StoreUnavailableError } from '../ports/errors';
import { BitsError, type BitsErrorSpec, formatContext, formatHresult } from './errors';
import { RESPONSE_HEADERS } from './headers';
import type { HttpResponse } from './http';
import { ACK_PACKET_TYPE } from './packet-types';
import { ALLOWED_METHODS } from './request';

/** A successful answer to a packet, before it becomes HTTP. */
export interface BitsAck {
  /** 200, or 416 when a fragment does not start at or before the received offset. */
  readonly status: 200 | 416;
  readonly sessionId?: string;
  /** Negotiated protocol GUID (Create-Session). */
  readonly protocol?: string;
  /** Next byte expected (every Fragment ack, 200 and 416). */
  readonly receivedContentRange?: number;
  /** Upload-reply: where the client downloads the reply (the final Fragment's ack only, §3.3). */
  readonly replyUrl?: string;
}

/** Headers every Ack carries: packet type, empty body, no caching (§12 D18). */
function baseHeaders(sessionId: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {
    [RESPONSE_HEADERS.packetType]: ACK_PACKET_TYPE,
    [RESPONSE_HEADERS.contentLength]: '0',
    [RESPONSE_HEADERS.pragma]: 'no-cache',
  };
  if (sessionId !== undefined) headers[RESPONSE_HEADERS.sessionId] = sessionId;
  return headers;
}

export function renderAck(ack: BitsAck): HttpResponse {
  const headers = baseHeaders(ack.sessionId);
  if (ack.protocol !== undefined) {
    headers[RESPONSE_HEADERS.protocol] = ack.protocol;
    headers[RESPONSE_HEADERS.acceptEncoding] = 'identity';
  }
  if (ack.receivedContentRange !== undefined) {
    headers[RESPONSE_HEADERS.receivedContentRange] = String(ack.receivedContentRange);
  }
  if (ack.replyUrl !== undefined) headers[RESPONSE_HEADERS.replyUrl] = ack.replyUrl;
  return { statusCode: ack.status, headers };
}

/** Both error header names with the same value, and the context (§12 D1). */
function renderErrorSpec(spec: BitsErrorSpec, sessionId: string | undefined): HttpResponse {
  const headers = baseHeaders(sessionId);
  if (spec.hresult !== undefined) {
    headers[RESPONSE_HEADERS.errorCode] = formatHresult(spec.hresult);
    headers[RESPONSE_HEADERS.error] = formatHresult(spec.hresult);
    headers[RESPONSE_HEADERS.errorContext] = formatContext(spec.context);
  }
  if (spec.status === 405) headers[RESPONSE_HEADERS.allow] = ALLOWED_METHODS.join(', ');
  return { statusCode: spec.status, headers };
}

/**
 * Classifies any thrown value: a BitsError says what to send; a store outage is transient (503);
 * anything else is an unexpected fault (500, E_FAIL). `expected` tells the caller how to log it.
 */
export function classifyError(error: unknown): { readonly error: BitsError; readonly expected: boolean } {
  if (error instanceof BitsError) return { error, expected: true };
  if (error instanceof StoreUnavailableError) {
    return { error: new BitsError('SERVER_BUSY', 'storage unavailable', { cause: error }), expected: true };
  }
  return { error: new BitsError('INTERNAL', 'unexpected error', { cause: error }), expected: false };
}

/** The one place errors become responses; messages stay in the logs. A 401 carries its challenge. */
export function renderError(error: BitsError, sessionId: string | undefined): HttpResponse {
  const response = renderErrorSpec(error.spec, sessionId);
  if (error.challenge === undefined) return response;
  return {
    ...response,
    headers: { ...response.headers, [RESPONSE_HEADERS.wwwAuthenticate]: error.challenge },
  };
}
