import { ERROR_CONTEXT } from '../lambda/protocol/errors';
import { RESPONSE_HEADERS } from '../lambda/protocol/headers';
import { ACK_PACKET_TYPE } from '../lambda/protocol/packet-types';
import { ApplicationError, ProtocolError, type RefusalDetails, ServerRefusedError } from './errors';
import { HRESULT, hresultMeaning, hresultName, httpErrorHresult, parseHex } from './hresult';
import { parseRetryAfter } from './retry';
import type { HttpAnswer } from './transport';

const header = (answer: HttpAnswer, name: string): string | undefined => answer.headers[name.toLowerCase()];

/** The answer claims to be a BITS Ack (case-insensitively, as servers vary; §2). */
export const isBitsAck = (answer: HttpAnswer): boolean =>
  header(answer, RESPONSE_HEADERS.packetType)?.trim().toLowerCase() === ACK_PACKET_TYPE.toLowerCase();

/** The error fields of an answer; without a BITS error code, what Windows would report. */
export function refusalDetails(packetType: string, answer: HttpAnswer): RefusalDetails {
  // Win32 names the header BITS-Error-Code, MC-BUP BITS-Error (§10 #1): read either.
  const sent = parseHex(header(answer, RESPONSE_HEADERS.errorCode) ?? header(answer, RESPONSE_HEADERS.error));
  const fromServer = sent !== undefined && sent !== 0;
  const hresult = fromServer ? sent : httpErrorHresult(answer.status);
  const excerpt = answer.bodyExcerpt.trim();
  return {
    packetType,
    status: answer.status,
    statusText: answer.statusText,
    hresult,
    hresultName: hresultName(hresult),
    hresultFrom: fromServer ? 'server' : 'http-status',
    context: fromServer ? parseHex(header(answer, RESPONSE_HEADERS.errorContext)) : undefined,
    ...(excerpt === '' ? {} : { bodyExcerpt: excerpt.slice(0, 200) }),
  };
}

/** What the client does next with an answer (bits-protocol.md §9 and MC-BUP §3.1.5.2). */
export type Verdict =
  | { readonly kind: 'ok' }
  /** A Fragment Ack (200 or 416): continue at `received`, whatever it says. */
  | { readonly kind: 'offset'; readonly received: number; readonly replyUrl?: string }
  /** 413 on a Fragment: halve the fragment and resend. */
  | { readonly kind: 'shrink'; readonly error: ServerRefusedError }
  /** BG_E_SESSION_NOT_FOUND: start over with Create-Session. */
  | { readonly kind: 'session-lost'; readonly error: ServerRefusedError }
  /** 401 with a challenge: resend with credentials, once. */
  | { readonly kind: 'challenge'; readonly basic: boolean; readonly error: ServerRefusedError }
  /** Worth retrying after a delay (5xx that is not a fatal BITS error, 408, 429). */
  | { readonly kind: 'transient'; readonly error: ServerRefusedError; readonly retryAfterMs?: number }
  | { readonly kind: 'fatal'; readonly error: ServerRefusedError | ProtocolError };

/** 5xx HRESULTs that no retry can fix: the job fails, as on Windows (MC-BUP §3.1.5.2.1). */
const FATAL_HRESULTS: ReadonlySet<number> = new Set([
  HRESULT.tooLarge,
  HRESULT.accessDenied,
  HRESULT.invalidArgument,
]);

/** 501 Not Implemented / 505 version not supported say the server will never do it (§5.3). */
const FATAL_5XX: ReadonlySet<number> = new Set([501, 505]);

const FRONT_REFUSALS: ReadonlySet<number> = new Set([400, 403, 405, 501]);

/**
 * How Windows treats the status of a server application's error (W32-apperr, bits-protocol.md
 * §5.3): 3xx transient except 300-305 and 307; 4xx fatal except 408 and 409; 5xx transient except
 * 501 and 505; anything else transient.
 */
export function isTransientApplicationStatus(status: number): boolean {
  if (status >= 300 && status <= 399) return status > 305 && status !== 307;
  if (status >= 400 && status <= 499) return status === 408 || status === 409;
  if (status >= 500 && status <= 599) return status !== 501 && status !== 505;
  return true;
}

/** The error for an Ack with BITS-Error-Context 0x7, explained by its §5.3 class. */
function applicationError(details: RefusalDetails, transient: boolean): ApplicationError {
  // Only an exact status + HRESULT match of the server's table describes the application's error;
  // the same HRESULT can mean something else there (0x80070112 is both disk full and a timeout).
  const listed = hresultMeaning(details.status, details.hresult, { exact: true });
  const consequence = transient
    ? `transient (${details.status}): the final Fragment is sent again, so the application sees the file again`
    : `fatal (${details.status}): Windows does not retry it`;
  return new ApplicationError(details, listed === undefined ? consequence : `${listed}; ${consequence}`);
}

/** `WWW-Authenticate` offers Basic among its challenges (RFC 9110 §11.6.1). */
export const offersBasic = (challenge: string | undefined): boolean =>
  challenge !== undefined && /(?:^|,)\s*basic(?:\s|,|$)/i.test(challenge);

/**
 * BITS-Received-Content-Range: a single decimal offset (§3.3), at most the file size; anything
 * else makes the Ack unusable.
 */
export function parseReceivedOffset(raw: string | undefined, size: number): number | undefined {
  if (raw === undefined || !/^\s*\d{1,16}\s*$/.test(raw)) return undefined;
  const value = Number(raw);
  return value <= size ? value : undefined;
}

/** Classifies the answer to one packet. `size` is the file size (Fragment Acks only). */
export function interpretAnswer(packetType: string, answer: HttpAnswer, size = 0): Verdict {
  const { status } = answer;
  const refused = (explanation?: string): ServerRefusedError =>
    new ServerRefusedError(refusalDetails(packetType, answer), explanation);
  const isFragment = packetType === 'Fragment';

  if (isFragment && (status === 200 || status === 201 || status === 416)) {
    const rawOffset = header(answer, RESPONSE_HEADERS.receivedContentRange);
    const received = parseReceivedOffset(rawOffset, size);
    if (received === undefined) {
      const why =
        rawOffset === undefined
          ? `no ${RESPONSE_HEADERS.receivedContentRange} header`
          : `unusable ${RESPONSE_HEADERS.receivedContentRange}: "${rawOffset}" for a ${size}-byte file`;
      return { kind: 'fatal', error: new ProtocolError(packetType, status, why) };
    }
    const replyUrl = header(answer, RESPONSE_HEADERS.replyUrl);
    return { kind: 'offset', received, ...(replyUrl === undefined ? {} : { replyUrl }) };
  }
  if (status === 200 || status === 201) {
    if (!isBitsAck(answer)) {
      return {
        kind: 'fatal',
        error: new ProtocolError(
          packetType,
          status,
          `not a BITS Ack (no "${RESPONSE_HEADERS.packetType}: ${ACK_PACKET_TYPE}"): something in front of the BITS server answered instead`,
        ),
      };
    }
    return { kind: 'ok' };
  }

  const details = refusalDetails(packetType, answer);
  const retryAfterMs = parseRetryAfter(header(answer, 'retry-after'));
  const withRetryAfter = retryAfterMs === undefined ? {} : { retryAfterMs };
  // The server application's status, relayed by the BITS server: Windows' §5.3 rules, not the
  // rules for the BITS server's own answers (no challenge, no shrinking, no session restart).
  if (details.hresultFrom === 'server' && details.context === ERROR_CONTEXT.remoteApplication) {
    const transient = isTransientApplicationStatus(status);
    const error = applicationError(details, transient);
    return transient ? { kind: 'transient', error, ...withRetryAfter } : { kind: 'fatal', error };
  }
  if (details.hresultFrom === 'server' && details.hresult === HRESULT.sessionNotFound) {
    return { kind: 'session-lost', error: refused() };
  }
  if (status === 413 && isFragment) return { kind: 'shrink', error: refused() };
  if (status === 401) {
    return {
      kind: 'challenge',
      basic: offersBasic(header(answer, RESPONSE_HEADERS.wwwAuthenticate)),
      error: refused(),
    };
  }
  // 408: the request timed out on the way; 429: a front's throttling (API Gateway); both pass.
  if (status === 408 || status === 429) return { kind: 'transient', error: refused(), ...withRetryAfter };
  // Refusals a BITS server never sends without its headers: a front (API Gateway, CloudFront, a
  // proxy) answered on its own, typically because it does not pass the BITS_POST method.
  if (!isBitsAck(answer) && FRONT_REFUSALS.has(status)) {
    return {
      kind: 'fatal',
      error: refused(
        'answered without BITS headers, so not by the BITS server: the front may not pass the BITS_POST method (`bits-upload smoke <url>` checks)',
      ),
    };
  }
  if (status >= 500 && status <= 599) {
    const fatal =
      FATAL_5XX.has(status) || (details.hresultFrom === 'server' && FATAL_HRESULTS.has(details.hresult));
    return fatal
      ? { kind: 'fatal', error: refused() }
      : { kind: 'transient', error: refused(), ...withRetryAfter };
  }
  return { kind: 'fatal', error: refused() };
}
