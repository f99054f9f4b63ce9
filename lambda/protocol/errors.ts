/** BITS-Error-Context values (MC-BUP §2.2.1.2): 0x5 the BITS server, 0x7 the server application. */
export const ERROR_CONTEXT = { server: 0x5, remoteApplication: 0x7 } as const;

export interface BitsErrorSpec {
  /** HTTP status of the Ack. */
  readonly status: number;
  /** HRESULT sent in BITS-Error-Code / BITS-Error; undefined sends no error headers. */
  readonly hresult?: number;
  /** Name of the HRESULT, for logs and the README table. */
  readonly hresultName?: string;
  readonly context: number;
  /** What the condition means, for the README table; never sent to the client. */
  readonly meaning: string;
}

/**
 * The one error table (bits-protocol.md §5.1 and §12). HRESULTs come from MC-BUP; E_FAIL is the
 * standard generic HRESULT, used only for faults of our own back end.
 */
export const BITS_ERRORS = {
  UNAUTHORIZED: {
    // MC-BUP gives no HRESULT for 401: the client answers the challenge, then reports the HTTP error.
    status: 401,
    context: ERROR_CONTEXT.server,
    meaning:
      'Missing or wrong credentials (auth mode basic or upstream): the client resends with credentials once',
  },
  INVALID_ARGUMENT: {
    status: 400,
    hresult: 0x80070057,
    hresultName: 'E_INVALIDARG',
    context: ERROR_CONTEXT.server,
    meaning: 'Malformed request: headers, Content-Range, Content-Length, packet type, protocol list or path',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    hresult: 0x80070057,
    hresultName: 'E_INVALIDARG',
    context: ERROR_CONTEXT.server,
    meaning: 'HTTP method other than BITS_POST or POST',
  },
  ACCESS_DENIED: {
    status: 403,
    hresult: 0x80070005,
    hresultName: 'E_ACCESSDENIED',
    context: ERROR_CONTEXT.server,
    meaning: 'Destination exists and overwrites are off, or the caller may not write there',
  },
  SESSION_NOT_FOUND: {
    status: 500,
    hresult: 0x8020001f,
    hresultName: 'BG_E_SESSION_NOT_FOUND',
    context: ERROR_CONTEXT.server,
    meaning: 'Unknown, expired, cancelled or foreign session: the client starts over with Create-Session',
  },
  UPLOAD_TOO_LARGE: {
    status: 500,
    hresult: 0x80200020,
    hresultName: 'BG_E_TOO_LARGE',
    context: ERROR_CONTEXT.server,
    meaning: 'Declared file size above the maximum upload size (fatal for the job)',
  },
  FRAGMENT_TOO_LARGE: {
    status: 413,
    hresult: 0x80200020,
    hresultName: 'BG_E_TOO_LARGE',
    context: ERROR_CONTEXT.server,
    meaning: 'Fragment body above the maximum fragment size: the client resends smaller fragments',
  },
  SERVER_BUSY: {
    status: 503,
    hresult: 0x80004005,
    hresultName: 'E_FAIL',
    context: ERROR_CONTEXT.server,
    meaning:
      "Storage throttled or unavailable, the caller's open-session limit reached, or (upload-reply) too little time left to call the application or wait for its answer: transient, the client retries later",
  },
  INTERNAL: {
    status: 500,
    hresult: 0x80004005,
    hresultName: 'E_FAIL',
    context: ERROR_CONTEXT.server,
    meaning: 'Unexpected server fault (logged with its stack, never echoed)',
  },
  // Upload-reply (bits-protocol.md §7, T42–T44): errors of the server application, context 0x7.
  APPLICATION_ERROR: {
    // The status and HRESULT shown are those of a failed Lambda function; an HTTP application's
    // own status is relayed instead (applicationStatus below), with BG_E_HTTP_ERROR_<status>.
    status: 500,
    hresult: httpErrorHresult(500),
    hresultName: 'BG_E_HTTP_ERROR_500',
    context: ERROR_CONTEXT.remoteApplication,
    meaning:
      "The application answered an error status (relayed, with BG_E_HTTP_ERROR_<status> = 0x80190000 + status) or its function failed (500); the client's retry notifies again",
  },
  APPLICATION_UNREACHABLE: {
    status: 502,
    hresult: httpErrorHresult(502),
    hresultName: 'BG_E_HTTP_ERROR_502',
    context: ERROR_CONTEXT.remoteApplication,
    meaning:
      'The application could not be reached or gave no usable answer (connection refused, invoke failed, malformed function answer): transient',
  },
  NOTIFICATION_TIMEOUT: {
    status: 408,
    hresult: 0x80070112,
    hresultName: 'HRESULT_FROM_WIN32(112)',
    context: ERROR_CONTEXT.remoteApplication,
    meaning:
      'The application did not answer within BITS_NOTIFICATION_TIMEOUT_SECONDS (MC-BUP §3.3.6): transient',
  },
  REPLY_TOO_LARGE: {
    // 501, not 500: clients retry a 5xx from the application (§5.3) except 501 and 505, and a retry
    // would only call the application again for a reply that cannot fit either.
    status: 501,
    hresult: 0x80200020,
    hresultName: 'BG_E_TOO_LARGE',
    context: ERROR_CONTEXT.remoteApplication,
    meaning: 'The reply is larger than one function response can carry (4 MiB)',
  },
  INVALID_REPLY_URL: {
    status: 400,
    hresult: 0x80070057,
    hresultName: 'E_INVALIDARG',
    context: ERROR_CONTEXT.remoteApplication,
    meaning: 'BITS-Static-Response-URL is not an absolute http(s) URL of at most 2,200 printable characters',
  },
} as const satisfies Record<string, BitsErrorSpec>;

export type BitsErrorName = keyof typeof BITS_ERRORS;

/** BG_E_HTTP_ERROR_<status>: how a BITS client reports an HTTP status (bits-protocol.md §5.2b). */
export function httpErrorHresult(status: number): number {
  return 0x80190000 + status;
}

/**
 * Statuses relayed from an application as they are. The others would mean something else to a
 * BITS client or to HTTP: 401/407 start an authentication round, 413 shrinks fragments, 416
 * resynchronises the offset, 1xx/2xx/304 are no errors; those become 502 (the HRESULT still names
 * the application's status).
 */
function relayedStatus(status: number): number {
  const relayable = Number.isInteger(status) && status >= 300 && status <= 599 && status !== 304;
  return relayable && ![401, 407, 413, 416].includes(status) ? status : 502;
}

/** The only error type that becomes a BITS error response. `message` is logged, never sent. */
export class BitsError extends Error {
  readonly spec: BitsErrorSpec;
  /** WWW-Authenticate challenge of a 401 (RFC 9110 §11.6.1), e.g. `Basic realm="…", charset="UTF-8"`. */
  readonly challenge: string | undefined;

  constructor(
    readonly errorName: BitsErrorName,
    message: string,
    options?: { cause?: unknown; challenge?: string; applicationStatus?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BitsError';
    const spec: BitsErrorSpec = BITS_ERRORS[errorName];
    const status = options?.applicationStatus;
    this.spec =
      status === undefined
        ? spec
        : {
            ...spec,
            status: relayedStatus(status),
            hresult: httpErrorHresult(Number.isInteger(status) && status > 0 && status < 1000 ? status : 502),
          };
    this.challenge = options?.challenge;
  }
}

/** `0x` + 8 upper-case hex digits (§12 D1). */
export const formatHresult = (hresult: number): string =>
  `0x${(hresult >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;

export const formatContext = (context: number): string => `0x${context.toString(16).toUpperCase()}`;
