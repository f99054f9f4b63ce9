import { ERROR_CONTEXT } from '../lambda/protocol/errors';
import { contextName, formatHresult, hresultMeaning } from './hresult';

/** Base of every error the client throws on purpose; anything else is a bug. */
export abstract class BitsClientError extends Error {
  abstract readonly kind: 'usage' | 'refused' | 'protocol' | 'network' | 'cancelled';
}

/**
 * The caller asked for something impossible: bad options, a URL that is not http(s), a local file
 * that cannot be read or that changed during the upload (BG_E_LOCAL_FILE_CHANGED).
 */
export class UsageError extends BitsClientError {
  override name = 'UsageError';
  readonly kind = 'usage';
}

export interface RefusalDetails {
  /** The BITS packet the server refused (`Fragment`, `Create-Session`…). */
  readonly packetType: string;
  readonly status: number;
  readonly statusText: string;
  /** The server's BITS-Error-Code, or BG_E_HTTP_ERROR_<status> when it sent none (what Windows reports). */
  readonly hresult: number;
  readonly hresultName: string | undefined;
  /** Where the HRESULT came from. */
  readonly hresultFrom: 'server' | 'http-status';
  /** BITS-Error-Context (0x5 the BITS server, 0x7 the server application), when sent. */
  readonly context: number | undefined;
  /** First bytes of a non-empty body (fronts that are not the BITS server explain themselves there). */
  readonly bodyExcerpt?: string;
}

/** The server answered with a status the client must not retry, or retried until the bound. */
export class ServerRefusedError extends BitsClientError {
  override name = 'ServerRefusedError';
  readonly kind = 'refused';
  readonly packetType: string;
  readonly status: number;
  readonly statusText: string;
  readonly hresult: number;
  readonly hresultName: string | undefined;
  readonly hresultFrom: 'server' | 'http-status';
  readonly context: number | undefined;
  readonly bodyExcerpt: string | undefined;

  constructor(details: RefusalDetails, explanation?: string, options?: { cause?: unknown }) {
    super(describeRefusal(details, explanation), options);
    this.packetType = details.packetType;
    this.status = details.status;
    this.statusText = details.statusText;
    this.hresult = details.hresult;
    this.hresultName = details.hresultName;
    this.hresultFrom = details.hresultFrom;
    this.context = details.context;
    this.bodyExcerpt = details.bodyExcerpt;
  }

  /** `0x80200020`: the HRESULT as the server wrote it (§12 D1 spelling). */
  get code(): string {
    return formatHresult(this.hresult);
  }
}

/**
 * The server application (the notification target of an upload-reply or notification directory)
 * failed on the uploaded file: the BITS server relays its status with BITS-Error-Context 0x7
 * (§3, §7.5). Windows classifies the status by §5.3; the upload itself reached the server.
 */
export class ApplicationError extends ServerRefusedError {
  override name = 'ApplicationError';
}

function describeRefusal(details: RefusalDetails, explanation: string | undefined): string {
  const code = `${formatHresult(details.hresult)} ${details.hresultName ?? '(unnamed)'}`;
  const origin =
    details.hresultFrom === 'server'
      ? `BITS error ${code}${details.context === undefined ? '' : ` (context 0x${details.context.toString(16).toUpperCase()}: ${contextName(details.context)})`}`
      : `no BITS error code; Windows would report ${code}`;
  const meaning =
    explanation ??
    (details.hresultFrom === 'server' ? hresultMeaning(details.status, details.hresult) : undefined);
  const body = details.bodyExcerpt === undefined ? '' : `; body: ${JSON.stringify(details.bodyExcerpt)}`;
  const who =
    details.context === ERROR_CONTEXT.remoteApplication
      ? `the server application failed on the upload (${details.packetType})`
      : `server refused ${details.packetType}`;
  return `${who}: ${details.status} ${details.statusText}, ${origin}${meaning === undefined ? '' : ` - ${meaning}`}${body}`;
}

/** The server answered, but not by the protocol: no Ack, no session id, an impossible offset. */
export class ProtocolError extends BitsClientError {
  override name = 'ProtocolError';
  readonly kind = 'protocol';

  constructor(
    readonly packetType: string,
    readonly status: number,
    message: string,
  ) {
    super(`${packetType} answered ${status}: ${message}`);
  }
}

/**
 * No usable answer: connection refused or reset, timeout, TLS failure; or transient failures
 * (network or 5xx) went on past the retry bound — then `cause` is the last one.
 */
export class NetworkError extends BitsClientError {
  override name = 'NetworkError';
  readonly kind = 'network';
  readonly code: string | undefined;
  readonly retryable: boolean;

  constructor(
    message: string,
    options?: {
      cause?: unknown;
      /** Node's error code (`ECONNREFUSED`, `DEPTH_ZERO_SELF_SIGNED_CERT`…), when there is one. */
      code?: string;
      /** False for failures a retry cannot fix (certificate errors). */
      retryable?: boolean;
    },
  ) {
    super(message, options);
    this.code = options?.code;
    this.retryable = options?.retryable ?? true;
  }
}

/** The caller's AbortSignal fired; Cancel-Session was sent for an open session. */
export class CancelledError extends BitsClientError {
  override name = 'CancelledError';
  readonly kind = 'cancelled';
}
