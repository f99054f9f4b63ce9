import { createHash, type Hash, randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { offersBasic, refusalDetails } from './ack';
import type { BasicAuth } from './connection';
import { type BitsClientError, NetworkError, ProtocolError, ServerRefusedError, UsageError } from './errors';
import type { UploadEvent } from './events';
import { backoffDelay, parseRetryAfter, type RetryPolicy } from './retry';
import { type HttpAnswer, readExcerpt, type StreamedAnswer, type Transport } from './transport';
import { displayUrl } from './url';

/**
 * Upload-reply jobs (bits-protocol.md §7): after the Ack of the final Fragment names
 * BITS-Reply-URL, the reply is fetched the way a BITS download job fetches a file — GET with a
 * single `Range` per request, continuing from the bytes already on disk after a broken
 * connection — before Close-Session, after which the server deletes it.
 */

export interface ReplyOptions {
  /** Where the reply goes: written to a temporary file beside it, renamed to this name when whole. */
  readonly file: string;
  /** Bytes asked for per GET (`Range: bytes=first-last`). Default 4 MiB. */
  readonly rangeSize?: number;
}

export interface ReplyResult {
  /** The reply URL, resolved against the upload URL. */
  readonly url: string;
  /** Absolute path of the reply file. */
  readonly file: string;
  readonly bytes: number;
  /** sha256 of the reply, hex. */
  readonly sha256: string;
  /** GET requests sent, retries included. */
  readonly requests: number;
  /** GETs that continued after a failed one from the bytes already written, instead of from 0. */
  readonly resumes: number;
}

export const DEFAULT_REPLY_RANGE_SIZE = 4 * 1024 * 1024;
/** One range is one request's worth of body; bounded like a fragment. */
const MAX_REPLY_RANGE_SIZE = 1024 * 1024 * 1024;

/** How a reply GET is named in refusals and events (it is not a BITS packet). */
export const REPLY_REQUEST = 'GET reply';

/** Validates the options before any packet: a UsageError for impossible values. */
export function checkReplyOptions(options: ReplyOptions): ReplyOptions {
  if (typeof options.file !== 'string' || options.file.trim() === '') {
    throw new UsageError('the reply file needs a path');
  }
  const rangeSize = options.rangeSize ?? DEFAULT_REPLY_RANGE_SIZE;
  if (!Number.isSafeInteger(rangeSize) || rangeSize < 1 || rangeSize > MAX_REPLY_RANGE_SIZE) {
    throw new UsageError(
      `the reply range size must be a whole number from 1 to ${MAX_REPLY_RANGE_SIZE} bytes, got ${rangeSize}`,
    );
  }
  return { file: options.file, rangeSize };
}

/**
 * The absolute path the reply will have, checked before the upload starts: its directory must
 * exist and the name must not be a directory, so a whole upload is not wasted on a typo.
 */
export async function prepareReplyTarget(file: string): Promise<string> {
  const target = path.resolve(file);
  const directory = path.dirname(target);
  const isDirectory = await stat(directory).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
  if (!isDirectory) throw new UsageError(`cannot write the reply file ${file}: no directory ${directory}`);
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isDirectory() === true) {
    throw new UsageError(`cannot write the reply file ${file}: it is a directory`);
  }
  return target;
}

export interface ReplyContext {
  readonly transport: Transport;
  /** The upload's Basic state: a challenge answered here also holds for the BITS packets. */
  readonly auth: BasicAuth;
  /** Origins that may see the credentials: the upload URL's (and its BITS-Host-Id node's). */
  readonly trustedOrigins: ReadonlySet<string>;
  readonly userAgent: string;
  readonly retryPolicy: RetryPolicy;
  readonly random: () => number;
  readonly signal?: AbortSignal;
  readonly emit: (event: UploadEvent) => void;
  /** Counts each transient failure retried, for the upload's result. */
  readonly onRetry: () => void;
}

/** Downloads the reply at `url` into `target` (from prepareReplyTarget). */
export function downloadReply(
  url: URL,
  options: ReplyOptions,
  target: string,
  context: ReplyContext,
): Promise<ReplyResult> {
  return new ReplyDownload(url, options.rangeSize ?? DEFAULT_REPLY_RANGE_SIZE, target, context).run();
}

/** A failure worth another GET after a delay. */
interface Failure {
  readonly error: BitsClientError;
  readonly retryAfterMs?: number;
}

/** `bytes first-last/size` (RFC 9110 §14.4), complete length known, as BITS downloads require. */
const BYTE_RANGE = /^\s*bytes\s+(\d{1,16})-(\d{1,16})\/(\d{1,16})\s*$/i;
// `bytes */size`: the length of the reply, on a 416.
const UNSATISFIED_RANGE = /^\s*bytes\s+\*\/(\d{1,16})\s*$/i;

class ReplyDownload {
  private readonly trusted: boolean;
  /** Bytes on disk, contiguous from 0: where the next GET starts. */
  private written = 0;
  /** The reply's length, once the server told it. */
  private total: number | undefined;
  private hash: Hash = createHash('sha256');
  private requests = 0;
  private resumes = 0;

  constructor(
    private readonly url: URL,
    private readonly rangeSize: number,
    private readonly target: string,
    private readonly context: ReplyContext,
  ) {
    this.trusted = context.trustedOrigins.has(url.origin);
  }

  async run(): Promise<ReplyResult> {
    // Beside the target, so the final rename stays on one file system and is atomic.
    const temp = path.join(
      path.dirname(this.target),
      `.${path.basename(this.target)}.${randomBytes(6).toString('hex')}.part`,
    );
    let handle: FileHandle;
    try {
      handle = await open(temp, 'wx');
    } catch (error) {
      throw new UsageError(`cannot write the reply file ${this.target}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    let handleOpen = true;
    let renamed = false;
    try {
      await this.fetchAll(handle);
      await this.local(async () => {
        const { size } = await handle.stat();
        if (size !== this.written) throw new Error(`${size} bytes on disk, ${this.written} received`);
        await handle.sync();
        handleOpen = false;
        await handle.close();
        await rename(temp, this.target);
      });
      renamed = true;
    } finally {
      if (handleOpen) await handle.close().catch(() => undefined);
      if (!renamed) await rm(temp, { force: true });
    }
    return {
      url: this.url.href,
      file: this.target,
      bytes: this.written,
      sha256: this.hash.digest('hex'),
      requests: this.requests,
      resumes: this.resumes,
    };
  }

  /**
   * GETs until the whole reply is on disk. Transient failures (network, 5xx, 408, 429, a body cut
   * short) wait with backoff; a streak is bounded like the upload's, and a GET that wrote bytes
   * ends the streak, so a flaky link that keeps making progress is not given up on.
   */
  private async fetchAll(handle: FileHandle): Promise<void> {
    const policy = this.context.retryPolicy;
    let attempt = 0;
    let streakStarted: number | undefined;
    let afterFailure = false;
    while (this.total === undefined || this.written < this.total) {
      if (afterFailure && this.written > 0) this.resumes++;
      const before = this.written;
      const failure = await this.fetchOnce(handle);
      this.context.emit({
        type: 'reply',
        url: displayUrl(this.url),
        bytes: this.written,
        ...(this.total === undefined ? {} : { totalBytes: this.total }),
      });
      afterFailure = failure !== undefined;
      if (failure === undefined || this.written > before) {
        attempt = 0;
        streakStarted = undefined;
      }
      if (failure === undefined) continue;
      attempt++;
      const now = performance.now();
      streakStarted ??= now;
      const delayMs = backoffDelay(attempt, policy, this.context.random, failure.retryAfterMs);
      if (attempt > policy.retries || now + delayMs - streakStarted > policy.maxElapsedMs) {
        throw new NetworkError(
          `gave up on ${REPLY_REQUEST} after ${attempt - 1} retries in ${Math.round(now - streakStarted)} ms, ${this.written} bytes written: ${failure.error.message}`,
          { cause: failure.error, retryable: false },
        );
      }
      this.context.onRetry();
      this.context.emit({
        type: 'retry',
        packetType: REPLY_REQUEST,
        attempt,
        retries: policy.retries,
        delayMs,
        reason: failure.error.message,
      });
      const { signal } = this.context;
      await sleep(delayMs, undefined, signal === undefined ? {} : { signal });
    }
  }

  /** One GET from the first byte not on disk; a transient failure is returned, not thrown. */
  private async fetchOnce(handle: FileHandle): Promise<Failure | undefined> {
    const first = this.written;
    const wanted = first + this.rangeSize - 1;
    const last = this.total === undefined ? wanted : Math.min(wanted, this.total - 1);
    try {
      const answer = await this.send(first, last);
      try {
        return await this.take(answer, handle, first);
      } finally {
        answer.discard();
      }
    } catch (error) {
      if (error instanceof NetworkError && error.retryable && this.context.signal?.aborted !== true) {
        return { error };
      }
      throw error;
    }
  }

  /** What the answer means for the file (BITS download rules, §7.4). */
  private async take(
    answer: StreamedAnswer,
    handle: FileHandle,
    first: number,
  ): Promise<Failure | undefined> {
    const { status } = answer;
    if (status === 206) {
      const raw = answer.headers['content-range'];
      const match = BYTE_RANGE.exec(raw ?? '');
      const [from, to, size] = [Number(match?.[1]), Number(match?.[2]), Number(match?.[3])];
      if (match === null || to < from || to >= size) {
        throw this.protocol(
          status,
          `a 206 needs Content-Range: bytes first-last/size, got ${raw ?? '(none)'}`,
        );
      }
      if (from !== first) {
        throw this.protocol(status, `asked for bytes from ${first}, the server sent them from ${from}`);
      }
      this.learnTotal(size, status);
      const length = to - from + 1;
      this.expectLength(answer, length);
      await this.receive(answer.body, handle, length, status);
      return undefined;
    }
    if (status === 200) {
      // The server ignored Range: the body is the whole reply, from byte 0 again.
      const length = contentLength(answer);
      if (length !== undefined) this.learnTotal(length, status);
      if (this.written > 0) {
        await this.local(() => handle.truncate(0));
        this.written = 0;
        this.hash = createHash('sha256');
      }
      await this.receive(answer.body, handle, length, status);
      // Without a Content-Length the end of the body is the end of the reply.
      if (length === undefined) this.total = this.written;
      return undefined;
    }
    const bodyExcerpt = await readExcerpt(answer.body);
    if (status === 416) {
      const raw = answer.headers['content-range'];
      const match = UNSATISFIED_RANGE.exec(raw ?? '');
      if (match === null) {
        throw this.protocol(status, `a 416 needs Content-Range: bytes */size, got ${raw ?? '(none)'}`);
      }
      const size = Number(match[1]);
      this.learnTotal(size, status);
      // Asking from the very end is how an empty reply (or one a cut body left complete) shows.
      if (size !== first) {
        throw this.protocol(
          status,
          `the reply has ${size} bytes, yet the range from byte ${first} was refused`,
        );
      }
      return undefined;
    }
    return this.refusal({ ...answer, bodyExcerpt });
  }

  /** Any other status: 5xx (but 501 and 505), 408 and 429 pass; the rest is final. */
  private refusal(answer: HttpAnswer): Failure {
    const { status } = answer;
    const details = refusalDetails(REPLY_REQUEST, answer);
    if (status === 404 || status === 410) {
      throw new ServerRefusedError(
        details,
        'the reply is gone: the server deletes it at Close-Session or when the session expires',
      );
    }
    if (status >= 300 && status <= 399) {
      throw new ServerRefusedError(
        details,
        'the reply URL redirects, and this client does not follow redirects',
      );
    }
    const transient =
      status === 408 ||
      status === 429 ||
      (status >= 500 && status <= 599 && status !== 501 && status !== 505);
    if (!transient) throw new ServerRefusedError(details);
    const retryAfterMs = parseRetryAfter(answer.headers['retry-after']);
    return {
      error: new ServerRefusedError(details),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }

  /**
   * The GET, answered by the head of the response; a 401 is answered with the upload's Basic
   * credentials once — only on the upload URL's origin: a reply URL elsewhere (an application's
   * static URL) never sees them.
   */
  private async send(first: number, last: number): Promise<StreamedAnswer> {
    const answer = await this.open(first, last);
    if (answer.status !== 401) return answer;
    const offered = answer.headers['www-authenticate'];
    const bodyExcerpt = await readExcerpt(answer.body);
    const { auth } = this.context;
    if (this.trusted && auth.answerChallenge(offersBasic(offered))) {
      this.context.emit({ type: 'auth', scheme: 'Basic' });
      const again = await this.open(first, last);
      if (again.status !== 401) return again;
      const excerpt = await readExcerpt(again.body);
      throw new ServerRefusedError(
        refusalDetails(REPLY_REQUEST, { ...again, bodyExcerpt: excerpt }),
        'the server refused the credentials',
      );
    }
    const why = this.trusted
      ? auth.refusal(offered ?? '(no challenge)')
      : `the reply URL is on ${this.url.origin}, not the upload URL's origin, and credentials go only there`;
    throw new ServerRefusedError(refusalDetails(REPLY_REQUEST, { ...answer, bodyExcerpt }), why);
  }

  private async open(first: number, last: number): Promise<StreamedAnswer> {
    const headers: Record<string, string> = {
      accept: '*/*',
      // Ranges count bytes of the reply itself, never of a compressed form (as Windows asks, RX-2).
      'accept-encoding': 'identity',
      range: `bytes=${first}-${last}`,
      'user-agent': this.context.userAgent,
    };
    const authorization = this.trusted ? this.context.auth.header() : undefined;
    if (authorization !== undefined) headers.authorization = authorization;
    const started = performance.now();
    const url = displayUrl(this.url);
    this.requests++;
    try {
      const answer = await this.context.transport.open(
        'GET',
        this.url,
        headers,
        undefined,
        this.context.signal,
      );
      const rttMs = performance.now() - started;
      this.context.emit({ type: 'packet', packetType: REPLY_REQUEST, url, status: answer.status, rttMs });
      return answer;
    } catch (error) {
      const rttMs = performance.now() - started;
      this.context.emit({
        type: 'packet',
        packetType: REPLY_REQUEST,
        url,
        rttMs,
        error: (error as Error).message,
      });
      throw error;
    }
  }

  /** Writes the body at the end of what is on disk; a cut body keeps what arrived (NetworkError). */
  private async receive(
    body: AsyncIterable<Buffer>,
    handle: FileHandle,
    expected: number | undefined,
    status: number,
  ): Promise<void> {
    let received = 0;
    for await (const chunk of body) {
      if (expected !== undefined && received + chunk.length > expected) {
        throw this.protocol(status, `the body is longer than the ${expected} bytes announced`);
      }
      await this.local(async () => {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, this.written + done);
          done += bytesWritten;
        }
      });
      this.hash.update(chunk);
      this.written += chunk.length;
      received += chunk.length;
    }
    if (expected !== undefined && received < expected) {
      throw new NetworkError(`${this.url.host}: the body ended after ${received} of ${expected} bytes`);
    }
  }

  /** The reply's length from an answer: it must not change from one GET to the next. */
  private learnTotal(size: number, status: number): void {
    if (this.total !== undefined && size !== this.total) {
      throw this.protocol(
        status,
        `the reply changed length during the download: ${this.total}, now ${size} bytes`,
      );
    }
    this.total = size;
  }

  private expectLength(answer: StreamedAnswer, length: number): void {
    const declared = contentLength(answer);
    if (declared !== undefined && declared !== length) {
      throw this.protocol(
        answer.status,
        `Content-Length ${declared} does not match the ${length}-byte Content-Range`,
      );
    }
  }

  private protocol(status: number, message: string): ProtocolError {
    return new ProtocolError(REPLY_REQUEST, status, `${message} (${displayUrl(this.url)})`);
  }

  /** Local file failures (disk full, permissions) are the caller's to fix, like an unreadable upload. */
  private async local<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new UsageError(`cannot write the reply file ${this.target}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}

function contentLength(answer: { readonly headers: Readonly<Record<string, string>> }): number | undefined {
  const raw = answer.headers['content-length'];
  return raw !== undefined && /^\s*\d{1,16}\s*$/.test(raw) ? Number(raw) : undefined;
}
