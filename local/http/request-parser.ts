/**
 * Incremental, strict HTTP/1.1 request parser for the local server.
 *
 * Why this exists: real BITS clients send the extension method `BITS_POST`, and Node's built-in
 * `http` server (llhttp) answers 400 before any user code runs, even with `insecureHTTPParser`
 * (nodejs/node#17248). So the local server parses requests itself, on plain `net` / `tls` sockets.
 *
 * Usage: `push` bytes as they arrive (split at any byte boundary), then call `next` until it
 * reports `need-more`. For each request it yields a `head` step as soon as the header block is
 * complete (before the body, so the server can send `100 Continue`), then a `request` step with
 * the whole body. Bytes after a request (pipelining) are kept for the next one. The first error
 * is final: the server answers it and closes the connection.
 *
 * What it accepts (RFC 9112 unless noted):
 * - request line `token SP origin-form SP HTTP/1.1 CRLF`; empty lines before it are skipped (§2.2);
 *   the target is visible ASCII starting with '/'; HTTP/1.0 gets its own error code (bits-protocol.md
 *   §12 D20), every other version is a plain 400;
 * - CRLF line endings only: a bare LF or CR is an error;
 * - field lines `token ":" OWS value OWS`; whitespace before the colon and obs-fold are errors
 *   (§5.1, §5.2); values may hold SP, HTAB, visible ASCII and obs-text, never other controls;
 * - a header block above `maxHeaderBytes` (request line and terminating CRLF included) → 431;
 * - exactly one Host (§3.2); `Expect` other than `100-continue` → 417 (RFC 9110 §10.1.1);
 * - Content-Length is digits only; repeats (or a list) must all agree (RFC 9110 §8.6); no
 *   Content-Length means an empty body (§6.3) — whether that is acceptable is the caller's business;
 * - any Transfer-Encoding → 501. We refuse rather than decode chunked bodies: BITS clients always
 *   send Content-Length (MC-BUP §2.2.1.1), a server SHOULD answer 501 to a transfer coding it does
 *   not implement (§6.1), and one framing rule leaves no room for Content-Length/Transfer-Encoding
 *   disagreements (request smuggling, §6.3, §11.2). 411 would wrongly tell the client to add a length to a
 *   request that may already carry one;
 * - a declared body above the maximum → 413, decided from the header block before any body byte.
 */

import type { HeaderMap } from '../../lambda/protocol/headers';

/** Header names lower-cased; repeated fields joined with ", " (RFC 9110 §5.3); the Lambda's shape too. */
export type { HeaderMap };

export interface RequestHead {
  readonly method: string;
  /** The request-target exactly as sent (origin-form: path and optional query). */
  readonly target: string;
  /** The target without its query string, still percent-encoded. */
  readonly path: string;
  /** Lower-case names; repeated fields joined with ", ". A prototype-less object. */
  readonly headers: HeaderMap;
  /** Field lines in arrival order, names as sent, values trimmed. */
  readonly rawHeaders: ReadonlyArray<readonly [string, string]>;
  /** Declared body length; 0 when Content-Length is absent. */
  readonly contentLength: number;
  /** The client waits for `100 Continue` before sending the body. */
  readonly expectContinue: boolean;
  /** False when the client sent `Connection: close`. */
  readonly keepAlive: boolean;
}

export interface ParsedRequest {
  readonly head: RequestHead;
  readonly body: Buffer;
}

/** Largest acceptable body for a request, as a number or decided from its header block. */
export type MaxBodyBytes = number | ((headers: HeaderMap, head: RequestHead) => number);

export interface RequestParserOptions {
  /** Request line + field lines + the empty line, in bytes. Default 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Default 10 MiB (API Gateway HTTP API's payload limit, platform.md §2). */
  readonly maxBodyBytes?: MaxBodyBytes;
  /** Where a body that arrives in several pieces is assembled; default a new buffer each time. */
  readonly allocateBody?: (length: number) => Buffer;
}

export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Every way a request can be refused, with the status the server answers. */
export const PARSE_ERRORS = {
  'bad-request-line': 400,
  'bad-method': 400,
  'bad-target': 400,
  'bad-version': 400,
  'http-1.0': 400,
  'bad-line-ending': 400,
  'bad-header-name': 400,
  'obs-fold': 400,
  'bad-header-value': 400,
  'missing-host': 400,
  'duplicate-host': 400,
  'bad-content-length': 400,
  'transfer-encoding': 501,
  'unsupported-expectation': 417,
  'headers-too-large': 431,
  'body-too-large': 413,
} as const satisfies Record<string, number>;

export type ParseErrorCode = keyof typeof PARSE_ERRORS;

export class HttpParseError extends Error {
  readonly status: number;

  constructor(
    readonly code: ParseErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HttpParseError';
    this.status = PARSE_ERRORS[code];
  }
}

export type ParseStep =
  | { readonly type: 'need-more' }
  | { readonly type: 'head'; readonly head: RequestHead }
  | { readonly type: 'request'; readonly request: ParsedRequest }
  | { readonly type: 'error'; readonly error: HttpParseError };

// Byte classes.
const TCHAR = 1; // RFC 9110 §5.6.2 token characters
const VCHAR = 2; // visible ASCII, 0x21-0x7E
const FIELD = 4; // field-value content: SP, HTAB, VCHAR, obs-text (RFC 9110 §5.5)
const CLASSES = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) CLASSES[c] = VCHAR | FIELD;
for (let c = 0x80; c <= 0xff; c++) CLASSES[c] = FIELD;
CLASSES[0x20] = FIELD;
CLASSES[0x09] = FIELD;
for (const c of Buffer.from(
  "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
  'latin1',
))
  CLASSES[c] = (CLASSES[c] ?? 0) | TCHAR;
const is = (c: number, cls: number): boolean => ((CLASSES[c] ?? 0) & cls) !== 0;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const SLASH = 0x2f;
const VERSION_PREFIX = Buffer.from('HTTP/1.', 'latin1');
const EMPTY = Buffer.alloc(0);

type HeadState =
  | 'start'
  | 'start-lf'
  | 'method'
  | 'target-start'
  | 'target'
  | 'version'
  | 'request-line-lf'
  | 'field-start'
  | 'field-name'
  | 'field-value'
  | 'field-lf'
  | 'end-lf';

const trimOws = (value: string): string => value.replace(/^[ \t]+|[ \t]+$/g, '');

/** Splits a comma-separated field value into trimmed, non-empty members (RFC 9110 §5.6.1). */
const listMembers = (value: string): string[] =>
  value
    .split(',')
    .map(trimOws)
    .filter((member) => member.length > 0);

export class RequestParser {
  private readonly maxHeaderBytes: number;
  private readonly maxBodyBytes: MaxBodyBytes;
  private readonly allocateBody: (length: number) => Buffer;

  /** Arrived bytes not yet looked at, in order. */
  private queue: Buffer[] = [];
  private failure: HttpParseError | undefined;
  private phase: 'head' | 'body' = 'head';

  // Head phase: the header block so far, contiguous, and where scanning resumes.
  private pending: Buffer = EMPTY;
  private scanPos = 0;
  private state: HeadState = 'start';
  private methodStart = 0;
  private methodEnd = 0;
  private targetEnd = 0;
  private lineStart = 0;
  private nameEnd = 0;
  private fields: Array<readonly [string, string]> = [];

  // Body phase: the body is copied into one buffer of its declared length as it arrives (allocated
  // with its first bytes), so a request never holds its body twice (socket chunks and their concat).
  private head: RequestHead | undefined;
  private body: Buffer | undefined;
  private bodyReceived = 0;

  constructor(options: RequestParserOptions = {}) {
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.allocateBody = options.allocateBody ?? Buffer.allocUnsafe;
  }

  /** Appends bytes as they came off the socket; nothing is parsed until `next`. Ignored after an error. */
  push(chunk: Buffer): void {
    if (chunk.length > 0 && this.failure === undefined) this.queue.push(chunk);
  }

  /** Bytes held: the unfinished request so far plus anything pipelined after it. */
  get bufferedBytes(): number {
    let total = this.pending.length + this.bodyReceived;
    for (const chunk of this.queue) total += chunk.length;
    return total;
  }

  /** True while waiting for (the rest of) a header block rather than a body. */
  get awaitingHead(): boolean {
    return this.phase === 'head' && this.failure === undefined;
  }

  /** True when part of a request has arrived but not all of it. */
  get midRequest(): boolean {
    return this.phase === 'body' || this.bufferedBytes > 0;
  }

  /** The next thing that happened in the byte stream; call again until `need-more`. */
  next(): ParseStep {
    if (this.failure !== undefined) return { type: 'error', error: this.failure };
    try {
      return this.phase === 'head' ? this.nextHead() : this.nextBody();
    } catch (error) {
      if (!(error instanceof HttpParseError)) throw error;
      this.failure = error;
      this.queue = [];
      this.pending = EMPTY;
      this.body = undefined;
      return { type: 'error', error };
    }
  }

  private nextHead(): ParseStep {
    if (this.queue.length > 0) {
      this.pending = Buffer.concat([this.pending, ...this.queue]);
      this.queue = [];
    }
    const end = this.scanHead(this.pending);
    if (end < 0) return { type: 'need-more' };
    const head = this.buildHead(this.pending.toString('latin1', this.methodStart, this.methodEnd));
    const rest = this.pending.subarray(end);
    if (rest.length > 0) this.queue.unshift(rest);
    this.resetHead();
    this.phase = 'body';
    this.head = head;
    return { type: 'head', head };
  }

  private nextBody(): ParseStep {
    const head = this.head as RequestHead;
    while (this.bodyReceived < head.contentLength && this.queue.length > 0) {
      const chunk = this.queue.shift() as Buffer;
      const wanted = head.contentLength - this.bodyReceived;
      if (chunk.length > wanted) this.queue.unshift(chunk.subarray(wanted));
      const piece = chunk.length > wanted ? chunk.subarray(0, wanted) : chunk;
      // A body that arrives in one piece is that piece; anything else is copied into place.
      if (this.body === undefined && piece.length === head.contentLength) this.body = piece;
      else {
        this.body ??= this.allocateBody(head.contentLength);
        piece.copy(this.body, this.bodyReceived);
      }
      this.bodyReceived += piece.length;
    }
    if (this.bodyReceived < head.contentLength) return { type: 'need-more' };
    const body = this.body ?? EMPTY;
    this.body = undefined;
    this.bodyReceived = 0;
    this.head = undefined;
    this.phase = 'head';
    return { type: 'request', request: { head, body } };
  }

  private resetHead(): void {
    this.pending = EMPTY;
    this.scanPos = 0;
    this.state = 'start';
    this.fields = [];
  }

  /**
   * Runs the header-block state machine over new bytes; each byte is looked at once, so a
   * client trickling bytes costs linear time. Returns the block's length once complete, else -1.
   */
  private scanHead(buf: Buffer): number {
    const limit = Math.min(buf.length, this.maxHeaderBytes);
    let state = this.state;
    let i = this.scanPos;
    for (; i < limit; i++) {
      const c = buf[i] as number;
      switch (state) {
        case 'start':
          if (c === CR) state = 'start-lf';
          else if (is(c, TCHAR)) {
            this.methodStart = i;
            state = 'method';
          } else if (c === LF) throw new HttpParseError('bad-line-ending', 'bare LF before the request line');
          else throw new HttpParseError('bad-method', 'request line does not start with a method token');
          break;
        case 'start-lf':
          if (c !== LF) throw new HttpParseError('bad-line-ending', 'CR without LF before the request line');
          state = 'start';
          break;
        case 'method':
          if (c === SP) {
            this.methodEnd = i;
            state = 'target-start';
          } else if (c === CR || c === LF) {
            throw new HttpParseError('bad-request-line', 'request line has no target');
          } else if (!is(c, TCHAR)) throw new HttpParseError('bad-method', 'method is not a token');
          break;
        case 'target-start':
          if (c !== SLASH) throw new HttpParseError('bad-target', 'request target is not in origin-form');
          state = 'target';
          break;
        case 'target':
          if (c === SP) {
            this.targetEnd = i;
            state = 'version';
          } else if (c === CR || c === LF) {
            throw new HttpParseError('bad-request-line', 'request line has no HTTP version');
          } else if (!is(c, VCHAR))
            throw new HttpParseError('bad-target', 'request target holds a forbidden byte');
          break;
        case 'version': {
          const at = i - this.targetEnd - 1;
          if (c === CR) {
            this.checkVersion(buf.toString('latin1', this.targetEnd + 1, i));
            state = 'request-line-lf';
          } else if (at < VERSION_PREFIX.length ? c !== VERSION_PREFIX[at] : at > 7 || c < 0x30 || c > 0x39) {
            throw new HttpParseError('bad-version', 'HTTP version is not HTTP/1.1');
          }
          break;
        }
        case 'request-line-lf':
          if (c !== LF) throw new HttpParseError('bad-line-ending', 'request line ends in a bare CR');
          state = 'field-start';
          break;
        case 'field-start':
          if (c === CR) state = 'end-lf';
          else if (is(c, TCHAR)) {
            this.lineStart = i;
            state = 'field-name';
          } else if (c === SP || c === HTAB)
            throw new HttpParseError('obs-fold', 'field line starts with whitespace');
          else if (c === LF) throw new HttpParseError('bad-line-ending', 'bare LF in the header block');
          else throw new HttpParseError('bad-header-name', 'field name is not a token');
          break;
        case 'field-name':
          if (c === COLON) {
            this.nameEnd = i;
            state = 'field-value';
          } else if (!is(c, TCHAR)) {
            throw new HttpParseError('bad-header-name', 'field name is not a token followed by a colon');
          }
          break;
        case 'field-value':
          if (c === CR) {
            this.fields.push([
              buf.toString('latin1', this.lineStart, this.nameEnd),
              trimOws(buf.toString('latin1', this.nameEnd + 1, i)),
            ]);
            state = 'field-lf';
          } else if (!is(c, FIELD))
            throw new HttpParseError('bad-header-value', 'control character in a field value');
          break;
        case 'field-lf':
          if (c !== LF) throw new HttpParseError('bad-line-ending', 'field line ends in a bare CR');
          state = 'field-start';
          break;
        case 'end-lf':
          if (c !== LF) throw new HttpParseError('bad-line-ending', 'header block ends in a bare CR');
          this.state = state;
          return i + 1;
      }
    }
    this.state = state;
    this.scanPos = i;
    if (i >= this.maxHeaderBytes) {
      throw new HttpParseError('headers-too-large', `header block exceeds ${this.maxHeaderBytes} bytes`);
    }
    return -1;
  }

  private checkVersion(version: string): void {
    if (version === 'HTTP/1.1') return;
    if (version === 'HTTP/1.0') throw new HttpParseError('http-1.0', 'HTTP/1.0 is not supported');
    throw new HttpParseError('bad-version', 'HTTP version is not HTTP/1.1');
  }

  /** Applies the rules that need the whole header block: framing, Host, Expect, body limit. */
  private buildHead(method: string): RequestHead {
    const target = this.pending.toString('latin1', this.methodEnd + 1, this.targetEnd);
    const headers: Record<string, string> = Object.create(null);
    const counts: Record<string, number> = Object.create(null);
    for (const [name, value] of this.fields) {
      const key = name.toLowerCase();
      const existing = headers[key];
      headers[key] = existing === undefined ? value : `${existing}, ${value}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    if (headers['transfer-encoding'] !== undefined) {
      throw new HttpParseError(
        'transfer-encoding',
        'Transfer-Encoding is not supported; send Content-Length',
      );
    }
    const contentLength = parseContentLength(headers['content-length']);
    if (counts.host === undefined) throw new HttpParseError('missing-host', 'HTTP/1.1 request without Host');
    if (counts.host > 1) throw new HttpParseError('duplicate-host', 'more than one Host field');
    const expect = headers.expect;
    const expectContinue = expect !== undefined && expect.toLowerCase() === '100-continue';
    if (expect !== undefined && !expectContinue) {
      throw new HttpParseError('unsupported-expectation', 'only Expect: 100-continue is supported');
    }
    const connection = headers.connection;
    const keepAlive =
      connection === undefined || !listMembers(connection).some((token) => token.toLowerCase() === 'close');
    const queryAt = target.indexOf('?');
    const head: RequestHead = {
      method,
      target,
      path: queryAt < 0 ? target : target.slice(0, queryAt),
      headers,
      rawHeaders: this.fields,
      contentLength,
      expectContinue,
      keepAlive,
    };
    const max = typeof this.maxBodyBytes === 'number' ? this.maxBodyBytes : this.maxBodyBytes(headers, head);
    if (contentLength > max) {
      throw new HttpParseError('body-too-large', `declared body of ${contentLength} bytes exceeds ${max}`);
    }
    return head;
  }
}

/**
 * Content-Length is 1*DIGIT; a repeated field or a list is accepted only when every member is the
 * same (RFC 9110 §8.6). A value beyond exact integers is treated as "too large", not malformed.
 */
function parseContentLength(value: string | undefined): number {
  if (value === undefined) return 0;
  const members = value.split(',').map((member) => trimOws(member).replace(/^0+(?=[0-9])/, ''));
  const first = members[0] ?? '';
  if (!members.every((member) => /^[0-9]+$/.test(member) && member === first)) {
    throw new HttpParseError('bad-content-length', 'Content-Length is not one non-negative integer');
  }
  const length = Number(first);
  return Number.isSafeInteger(length) ? length : Number.POSITIVE_INFINITY;
}
