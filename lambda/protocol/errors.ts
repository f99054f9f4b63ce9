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
      "Storage throttled or unavailable, or the caller's open-session limit reached: transient, the client retries later",
  },
  INTERNAL: {
    status: 500,
    hresult: 0x80004005,
    hresultName: 'E_FAIL',
    context: ERROR_CONTEXT.server,
    meaning: 'Unexpected server fault (logged with its stack, never echoed)',
  },
} as const satisfies Record<string, BitsErrorSpec>;

export type BitsErrorName = keyof typeof BITS_ERRORS;

/** The only error type that becomes a BITS error response. `message` is logged, never sent. */
export class BitsError extends Error {
  readonly spec: BitsErrorSpec;
  /** WWW-Authenticate challenge of a 401 (RFC 9110 §11.6.1), e.g. `Basic realm="…", charset="UTF-8"`. */
  readonly challenge: string | undefined;

  constructor(
    readonly errorName: BitsErrorName,
    message: string,
    options?: { cause?: unknown; challenge?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BitsError';
    this.spec = BITS_ERRORS[errorName];
    this.challenge = options?.challenge;
  }
}

/** `0x` + 8 upper-case hex digits (§12 D1). */
export const formatHresult = (hresult: number): string =>
  `0x${(hresult >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;

export const formatContext = (context: number): string => `0x${context.toString(16).toUpperCase()}`;
