import { statusText } from '../../lambda/protocol/status-text';
import type { FrontResponse } from './types';

/** Headers the front writes itself; the application's values for them are dropped. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'date', 'keep-alive']);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** SP, HTAB, visible ASCII and obs-text: nothing that could end a line (response splitting). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export interface SerializedResponse {
  readonly head: Buffer;
  /** Undefined when the status or the method forbids a body. */
  readonly body: Buffer | undefined;
  /** The connection closes after this answer. */
  readonly close: boolean;
}

export interface SerializeOptions {
  /** Close after this answer (the client asked, or the front is refusing the request). */
  readonly close: boolean;
  /** Answer to HEAD: headers as for GET, no body bytes (RFC 9110 §9.3.2). */
  readonly headOnly?: boolean;
  readonly now?: Date;
}

/**
 * A HEAD answer has no body, yet its Content-Length is the size a GET would send (RFC 9110 §9.3.2):
 * the application's own value is kept then, if it is one.
 */
function headLength(response: FrontResponse, options: SerializeOptions): number | undefined {
  if (!options.headOnly || (response.body?.length ?? 0) > 0) return undefined;
  const entry = Object.entries(response.headers).find(([name]) => name.toLowerCase() === 'content-length');
  return entry !== undefined && /^\d{1,15}$/.test(entry[1]) ? Number(entry[1]) : undefined;
}

/**
 * Status line, the application's headers, Date, Content-Length (always, 0 for no body; never on
 * 204/304, RFC 9110 §8.6) and `Connection: close` when closing. Throws on a status outside
 * 200-599 or a header that is not a token / safe value, so the caller answers 500 instead.
 */
export function serializeResponse(response: FrontResponse, options: SerializeOptions): SerializedResponse {
  const { statusCode } = response;
  if (!Number.isInteger(statusCode) || statusCode < 200 || statusCode > 599) {
    throw new Error(`response status ${statusCode} is not a final status`);
  }
  let close = options.close;
  const lines = [`HTTP/1.1 ${statusCode} ${statusText(statusCode)}`];
  for (const [name, value] of Object.entries(response.headers)) {
    if (!TOKEN.test(name)) throw new Error(`response header name ${JSON.stringify(name)} is not a token`);
    if (typeof value !== 'string' || !FIELD_VALUE.test(value)) {
      throw new Error(`response header ${name} has an unsendable value`);
    }
    const lower = name.toLowerCase();
    if (lower === 'connection' && /(^|,)[ \t]*close[ \t]*(,|$)/i.test(value)) close = true;
    if (!FRAMING_HEADERS.has(lower)) lines.push(`${name}: ${value}`);
  }
  lines.push(`Date: ${(options.now ?? new Date()).toUTCString()}`);
  const bodyless = statusCode === 204 || statusCode === 304;
  const body = response.body ?? Buffer.alloc(0);
  if (!bodyless) lines.push(`Content-Length: ${headLength(response, options) ?? body.length}`);
  if (close) lines.push('Connection: close');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return { head, body: bodyless || options.headOnly || body.length === 0 ? undefined : body, close };
}
