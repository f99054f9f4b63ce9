import { BitsError } from './errors';
import { HEADERS, type HeaderMap, MAX_HEADER_VALUE_BYTES } from './headers';
import type { HttpRequest } from './http';
import { type PacketType, parsePacketType } from './packet-types';

/** The methods that carry BITS packets (§12 D14). */
export const ALLOWED_METHODS = ['BITS_POST', 'POST'] as const;

/** Principal of requests when no authentication is configured. */
export const ANONYMOUS = 'anonymous';

/** An HTTP request that passed the checks every BITS packet shares. */
export interface BitsRequest {
  readonly packetType: PacketType;
  readonly path: string;
  readonly headers: HeaderMap;
  readonly body: Buffer;
  readonly principal: string;
}

function checkMethod(request: HttpRequest): void {
  if (request.method === 'BITS_POST') return;
  const override = request.headers[HEADERS.methodOverride];
  if (request.method === 'POST' && (override === undefined || override.trim().toUpperCase() === 'BITS_POST'))
    return;
  throw new BitsError('METHOD_NOT_ALLOWED', `method ${request.method.slice(0, 40)}`);
}

function checkHeaderSizes(headers: HeaderMap): void {
  for (const [name, value] of Object.entries(headers)) {
    if (Buffer.byteLength(value) > MAX_HEADER_VALUE_BYTES) {
      throw new BitsError('INVALID_ARGUMENT', `header ${name.slice(0, 64)} above 4 KB`);
    }
  }
}

/** Content-Length must be present, all digits, and equal to the decoded body (§12 D7). */
function checkContentLength(headers: HeaderMap, body: Buffer): void {
  const raw = headers[HEADERS.contentLength]?.trim();
  if (raw === undefined || !/^[0-9]{1,16}$/.test(raw)) {
    throw new BitsError('INVALID_ARGUMENT', 'missing or malformed Content-Length');
  }
  if (Number(raw) !== body.length)
    throw new BitsError('INVALID_ARGUMENT', 'Content-Length differs from the body');
}

/** Only identity bodies are accepted (§12 D13, T32). */
function checkContentEncoding(headers: HeaderMap): void {
  const encoding = headers[HEADERS.contentEncoding]?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    throw new BitsError('INVALID_ARGUMENT', 'Content-Encoding other than identity');
  }
}

/** Validates what all packets share and names the packet; packet-specific checks live in the handlers. */
export function toBitsRequest(request: HttpRequest): BitsRequest {
  checkMethod(request);
  checkHeaderSizes(request.headers);
  checkContentLength(request.headers, request.body);
  checkContentEncoding(request.headers);
  const packetType = parsePacketType(request.headers[HEADERS.packetType]);
  if (packetType !== 'fragment' && request.body.length > 0) {
    throw new BitsError('INVALID_ARGUMENT', `${packetType} with a body`);
  }
  return {
    packetType,
    path: request.path,
    headers: request.headers,
    body: request.body,
    principal: request.principal ?? ANONYMOUS,
  };
}
