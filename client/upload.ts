import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RESPONSE_HEADERS } from '../lambda/protocol/headers';
import { BITS_UPLOAD_PROTOCOL } from '../lambda/protocol/supported-protocols';
import type { Verdict } from './ack';
import { BitsConnection, type Exchange, type Packet, type WirePacketType } from './connection';
import {
  type BitsClientError,
  CancelledError,
  NetworkError,
  ProtocolError,
  ServerRefusedError,
  UsageError,
} from './errors';
import type { UploadEvent, UploadProgress } from './events';
import { formatHresult, HRESULT } from './hresult';
import {
  checkReplyOptions,
  downloadReply,
  prepareReplyTarget,
  type ReplyOptions,
  type ReplyResult,
} from './reply';
import { backoffDelay, type RetryPolicy, resolveRetryPolicy } from './retry';
import { openFileSource, type UploadSource } from './source';
import { Transport } from './transport';
import { type Credentials, displayUrl, parseDestination, resolveReplyUrl, withHostId } from './url';

/** Windows (BITS 2.5+) never sends fragments below 5 KB (MC-BUP §3.1.5.2.4 note <16>): 5 × 1024 bytes. */
export const MIN_FRAGMENT_SIZE = 5 * 1024;
/** One fragment is one buffer in memory; this keeps it sane (Windows stops at 13 MB). */
export const MAX_FRAGMENT_SIZE = 1024 * 1024 * 1024;
/** Fits the default server limit (4.4 MiB: a 6 MB Lambda event after base64) without a 413. */
export const DEFAULT_FRAGMENT_SIZE = 4 * 1024 * 1024;
export const DEFAULT_MAX_SESSION_RESTARTS = 3;
/** Windows' response timeout (MC-BUP §3.1.2). */
export const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;
/** Cancel-Session is sent while the user waits: short and bounded. */
const CANCEL_TIMEOUT_MS = 5000;
const CANCEL_RETRIES = 2;
/** Fragment Acks in a row that take none of the bytes sent before the server is declared stuck. */
const MAX_STALLED_ACKS = 5;
const DEFAULT_USER_AGENT = 'bits-upload/0.1 (Node.js)';

export interface UploadOptions {
  /** Destination URL: the remote file name. User info in it is used as credentials. */
  readonly url: string | URL;
  readonly file: string;
  /** Bytes per Fragment; 413 answers halve it, never below MIN_FRAGMENT_SIZE. */
  readonly fragmentSize?: number;
  readonly credentials?: Credentials;
  /** Send Basic credentials from the first packet rather than after a 401 challenge. */
  readonly basicUpfront?: boolean;
  /** Aborting sends Cancel-Session for an open session, then rejects with CancelledError. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: UploadProgress) => void;
  readonly onEvent?: (event: UploadEvent) => void;
  /** Ping before Create-Session (the Windows traces go straight to Create-Session). Default false. */
  readonly ping?: boolean;
  readonly retry?: Partial<RetryPolicy>;
  /** BG_E_SESSION_NOT_FOUND answers that may restart the upload from 0. Default 3. */
  readonly maxSessionRestarts?: number;
  /** Longest silence on the connection per request. Default 5 minutes. */
  readonly timeoutMs?: number;
  /** Accept any TLS certificate. */
  readonly insecure?: boolean;
  readonly ca?: string | Buffer;
  readonly userAgent?: string;
  /** Jitter source, for tests. Default Math.random. */
  readonly random?: () => number;
  /**
   * An upload-reply job (§7): the final Fragment Ack must name BITS-Reply-URL, and the reply is
   * downloaded to `reply.file` before Close-Session.
   */
  readonly reply?: ReplyOptions;
}

export interface UploadResult {
  /** The destination URL (without credentials). */
  readonly url: string;
  readonly sessionId: string;
  /** The protocol GUID the server chose (BITS-Protocol). */
  readonly protocol: string;
  /** File size. */
  readonly bytes: number;
  /** Body bytes sent, resends included: equals `bytes` when nothing was sent twice. */
  readonly bytesSent: number;
  /** Fragment packets sent, resends included. */
  readonly fragments: number;
  /** Fragment size at the end (smaller than asked after 413 answers). */
  readonly fragmentSize: number;
  /** Transient failures retried. */
  readonly retries: number;
  /** Sessions started over after BG_E_SESSION_NOT_FOUND. */
  readonly restarts: number;
  readonly elapsedMs: number;
  /** BITS-Host-Id of the session that completed, if the server named one. */
  readonly hostId?: string;
  /**
   * BITS-Reply-URL from the final Fragment Ack, resolved against the upload URL; downloaded only
   * with the `reply` option.
   */
  readonly replyUrl?: string;
  /** The downloaded reply (with the `reply` option). */
  readonly reply?: ReplyResult;
}

/** Uploads one file the way Windows BITS does (bits-protocol.md §9). */
export async function uploadFile(options: UploadOptions): Promise<UploadResult> {
  const checked = checkOptions(options);
  const source = await openFileSource(options.file);
  try {
    return await runUpload(checked, source);
  } finally {
    await source.close();
  }
}

export interface CheckedOptions extends Omit<UploadOptions, 'url' | 'file'> {
  readonly url: URL;
  readonly fragmentSize: number;
  readonly retryPolicy: RetryPolicy;
  readonly maxSessionRestarts: number;
}

/** Validates options up front, so a bad value is a UsageError before any packet. */
export function checkOptions(options: Omit<UploadOptions, 'file'>): CheckedOptions {
  const { url, credentials } = parseDestination(options.url);
  const fragmentSize = options.fragmentSize ?? DEFAULT_FRAGMENT_SIZE;
  if (
    !Number.isSafeInteger(fragmentSize) ||
    fragmentSize < MIN_FRAGMENT_SIZE ||
    fragmentSize > MAX_FRAGMENT_SIZE
  ) {
    throw new UsageError(
      `fragment size must be a whole number from ${MIN_FRAGMENT_SIZE} (5 KiB) to ${MAX_FRAGMENT_SIZE} bytes, got ${fragmentSize}`,
    );
  }
  const maxSessionRestarts = options.maxSessionRestarts ?? DEFAULT_MAX_SESSION_RESTARTS;
  if (!Number.isSafeInteger(maxSessionRestarts) || maxSessionRestarts < 0) {
    throw new UsageError(`maxSessionRestarts must be a whole number ≥ 0, got ${maxSessionRestarts}`);
  }
  const chosenCredentials = options.credentials ?? credentials;
  if (options.basicUpfront === true && chosenCredentials === undefined) {
    throw new UsageError('sending Basic credentials up front needs a user and password');
  }
  return {
    ...options,
    url,
    fragmentSize,
    maxSessionRestarts,
    retryPolicy: resolveRetryPolicy(options.retry),
    ...(chosenCredentials === undefined ? {} : { credentials: chosenCredentials }),
    ...(options.reply === undefined ? {} : { reply: checkReplyOptions(options.reply) }),
  };
}

/** Runs an upload of any source (the CLI's files, the smoke test's few bytes). */
export async function runUpload(options: CheckedOptions, source: UploadSource): Promise<UploadResult> {
  let replyTarget: string | undefined;
  if (options.reply !== undefined) {
    if (source.size === 0) {
      // No Fragment, so no Ack to carry BITS-Reply-URL: an empty file has no reply (§3.3).
      throw new UsageError('an upload-reply job needs a file of at least one byte');
    }
    replyTarget = await prepareReplyTarget(options.reply.file);
  }
  const transport = new Transport({
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(options.insecure === undefined ? {} : { insecure: options.insecure }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  const run = new UploadRun(options, source, transport, replyTarget);
  try {
    return await run.run();
  } catch (error) {
    if (options.signal?.aborted) {
      await run.cancel();
      throw new CancelledError('upload cancelled', { cause: error });
    }
    // Unlike a Windows job, a failed run is never resumed later: let the server drop what it holds.
    // Not after network failures, where a Cancel-Session would only wait for the same dead link.
    if (!(error instanceof NetworkError) || error.cause instanceof ServerRefusedError) await run.cancel();
    throw error;
  } finally {
    transport.close();
  }
}

/** BG_E_SESSION_NOT_FOUND came back: unwinds to the session loop, which starts over. */
class SessionLost extends Error {
  constructor(readonly refusal: ServerRefusedError) {
    super(refusal.message);
  }
}

const sameProtocol = (a: string, b: string): boolean =>
  a
    .trim()
    .replace(/^\{(.*)\}$/, '$1')
    .toLowerCase() === b.replace(/^\{(.*)\}$/, '$1').toLowerCase();

/** Any HTTP-legal token of at most 100 characters is a session id to a Windows client (§3.2). */
const SESSION_ID = /^[\x21-\x7e]{1,100}$/;

class UploadRun {
  private readonly connection: BitsConnection;
  private readonly started = performance.now();
  private readonly random: () => number;
  /** Where packets go now: the destination URL, or the same URL on the BITS-Host-Id host. */
  private url: URL;
  private hostId: string | undefined;
  private hostFallbackMs: number | undefined;
  private hostFailingSince: number | undefined;
  private sessionId: string | undefined;
  private sessionOpen = false;
  private protocol = '';
  private offset = 0;
  private fragmentSize: number;
  private replyUrl: string | undefined;
  private reply: ReplyResult | undefined;
  private fragments = 0;
  private bytesSent = 0;
  private retries = 0;
  private restarts = 0;

  constructor(
    private readonly options: CheckedOptions,
    private readonly source: UploadSource,
    private readonly transport: Transport,
    /** Absolute path of the reply file, in upload-reply mode. */
    private readonly replyTarget?: string,
  ) {
    this.url = options.url;
    this.fragmentSize = options.fragmentSize;
    this.random = options.random ?? Math.random;
    this.connection = new BitsConnection(transport, {
      userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      ...(options.basicUpfront === undefined ? {} : { basicUpfront: options.basicUpfront }),
      ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    });
  }

  async run(): Promise<UploadResult> {
    if (this.options.ping === true) await this.ping();
    for (;;) {
      try {
        await this.createSession();
        this.progress();
        await this.sendFragments();
        // Before Close-Session: the server deletes the reply when the session closes (§2.4).
        await this.downloadReply();
        await this.closeSession();
        return this.result();
      } catch (error) {
        if (!(error instanceof SessionLost)) throw error;
        this.sessionOpen = false;
        if (this.restarts >= this.options.maxSessionRestarts) {
          throw new ServerRefusedError(
            error.refusal,
            `the server lost the session again after ${this.restarts} restart(s) from offset 0`,
          );
        }
        this.restarts++;
        this.emit({ type: 'restart', restart: this.restarts, reason: error.message });
        this.sessionId = undefined;
        this.offset = 0;
        this.replyUrl = undefined;
        this.url = this.options.url;
        this.hostId = undefined;
      }
    }
  }

  /** After an abort: Cancel-Session for an open session, retried on 5xx only (§3.4), never thrown. */
  async cancel(): Promise<void> {
    if (!this.sessionOpen || this.sessionId === undefined) return;
    const packet: Packet = { type: 'Cancel-Session', url: this.url, sessionId: this.sessionId };
    let detail = 'no answer';
    for (let attempt = 0; attempt <= CANCEL_RETRIES; attempt++) {
      if (attempt > 0) {
        await sleep(Math.min(1000, backoffDelay(attempt, this.options.retryPolicy, this.random)));
      }
      try {
        const { verdict } = await this.connection.send(packet, AbortSignal.timeout(CANCEL_TIMEOUT_MS));
        if (verdict.kind === 'ok') {
          this.emit({ type: 'cancel', acknowledged: true });
          return;
        }
        detail = 'error' in verdict ? verdict.error.message : verdict.kind;
        if (verdict.kind !== 'transient') break;
      } catch (error) {
        detail = (error as Error).message;
      }
    }
    this.emit({ type: 'cancel', acknowledged: false, detail });
  }

  private async ping(): Promise<void> {
    const { verdict } = await this.exchange('Ping', () => ({ type: 'Ping', url: this.url }));
    this.expectOk('Ping', verdict);
  }

  private async createSession(): Promise<void> {
    const { answer, verdict } = await this.exchange('Create-Session', () => ({
      type: 'Create-Session',
      url: this.url,
    }));
    this.expectOk('Create-Session', verdict);
    const header = (name: string): string | undefined => answer.headers[name.toLowerCase()]?.trim();
    const sessionId = header(RESPONSE_HEADERS.sessionId);
    if (sessionId === undefined || !SESSION_ID.test(sessionId)) {
      throw new ProtocolError('Create-Session', answer.status, `no usable ${RESPONSE_HEADERS.sessionId}`);
    }
    // Only now is there a session to cancel, even if the checks below fail.
    this.sessionId = sessionId;
    this.sessionOpen = true;
    const protocol = header(RESPONSE_HEADERS.protocol);
    if (protocol === undefined || !sameProtocol(protocol, BITS_UPLOAD_PROTOCOL)) {
      throw new ProtocolError(
        'Create-Session',
        answer.status,
        `server chose protocol ${protocol ?? '(none)'}, not BITS 1.5 ${BITS_UPLOAD_PROTOCOL} (BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH ${formatHresult(HRESULT.protocolMismatch)})`,
      );
    }
    this.protocol = protocol;
    this.emit({ type: 'session', sessionId, protocol });
    const hostId = header('BITS-Host-Id');
    if (hostId !== undefined && hostId !== '') await this.moveToHost(hostId, answer.status, header);
  }

  /** BITS-Host-Id: later packets go to that host, which is Pinged first (§3.2, §9). */
  private async moveToHost(
    hostId: string,
    status: number,
    header: (name: string) => string | undefined,
  ): Promise<void> {
    const url = withHostId(this.options.url, hostId);
    if (url === undefined) {
      throw new ProtocolError('Create-Session', status, `unusable BITS-Host-Id "${hostId}"`);
    }
    const fallback = header('BITS-Host-Id-Fallback-Timeout');
    // Absent: never fall back (the client default is infinite, MC-BUP §3.1.2.3).
    this.hostFallbackMs =
      fallback !== undefined && /^\d{1,10}$/.test(fallback) ? Number(fallback) * 1000 : undefined;
    this.hostFailingSince = undefined;
    this.hostId = hostId;
    this.url = url;
    this.emit({ type: 'host-id', hostId, url: displayUrl(url) });
    await this.ping();
  }

  private async sendFragments(): Promise<void> {
    const { size, name } = this.source;
    let stalled = 0;
    while (this.offset < size) {
      const first = this.offset;
      const length = Math.min(this.fragmentSize, size - first);
      const body = await this.source.read(first, length);
      const { answer, verdict } = await this.exchange(
        'Fragment',
        () => {
          this.fragments++;
          this.bytesSent += length;
          return {
            type: 'Fragment',
            url: this.url,
            sessionId: this.sessionId,
            contentName: name,
            range: { first, total: size },
            body,
          };
        },
        size,
      );
      switch (verdict.kind) {
        case 'offset': {
          const { received } = verdict;
          // Windows continues wherever the server says, forward or backward (MC-BUP §3.1.5.1.4).
          if (received !== first + length) {
            this.emit({ type: 'resync', expected: first + length, received, status: answer.status });
          }
          stalled = received > first ? 0 : stalled + 1;
          if (stalled >= MAX_STALLED_ACKS) {
            throw new ProtocolError(
              'Fragment',
              answer.status,
              `the server answered offset ${received} ${stalled} times in a row without taking any bytes`,
            );
          }
          this.offset = received;
          if (received === size) this.takeReplyUrl(answer.status, verdict.replyUrl);
          this.progress();
          break;
        }
        case 'shrink': {
          if (length <= MIN_FRAGMENT_SIZE) {
            throw new ServerRefusedError(
              verdict.error,
              `the server refuses even ${length}-byte fragments, and BITS clients never send less than ${MIN_FRAGMENT_SIZE} bytes`,
            );
          }
          this.fragmentSize = Math.max(MIN_FRAGMENT_SIZE, Math.floor(length / 2));
          this.emit({ type: 'shrink', fragmentSize: this.fragmentSize });
          break;
        }
        case 'session-lost':
          throw new SessionLost(verdict.error);
        case 'fatal':
          throw verdict.error;
        default:
          throw new ProtocolError('Fragment', answer.status, `unexpected answer (${verdict.kind})`);
      }
    }
  }

  /**
   * The Ack that completes the file: an upload-reply client needs a usable BITS-Reply-URL on it
   * (MC-BUP §2.2.7.2, §3.1.5.2.4); a plain upload only records one.
   */
  private takeReplyUrl(status: number, raw: string | undefined): void {
    const replyMode = this.options.reply !== undefined;
    if (raw === undefined || raw.trim() === '') {
      if (!replyMode) return;
      throw new ProtocolError(
        'Fragment',
        status,
        `no ${RESPONSE_HEADERS.replyUrl} on the Ack of the final Fragment of an upload-reply job: the server is not set up for upload-reply (notifications off?)`,
      );
    }
    const resolved = resolveReplyUrl(this.url, raw);
    if (resolved === undefined && replyMode) {
      throw new ProtocolError(
        'Fragment',
        status,
        `unusable ${RESPONSE_HEADERS.replyUrl} "${raw}": not an http(s) URL or a path relative to the upload URL`,
      );
    }
    this.replyUrl = resolved;
  }

  private async downloadReply(): Promise<void> {
    const { reply } = this.options;
    if (reply === undefined || this.replyTarget === undefined || this.replyUrl === undefined) return;
    this.reply = await downloadReply(new URL(this.replyUrl), reply, this.replyTarget, {
      transport: this.transport,
      auth: this.connection.auth,
      trustedOrigins: new Set([this.options.url.origin, this.url.origin]),
      userAgent: this.options.userAgent ?? DEFAULT_USER_AGENT,
      retryPolicy: this.options.retryPolicy,
      random: this.random,
      emit: (event) => this.emit(event),
      onRetry: () => {
        this.retries++;
      },
      ...(this.options.signal === undefined ? {} : { signal: this.options.signal }),
    });
  }

  private async closeSession(): Promise<void> {
    const { verdict } = await this.exchange('Close-Session', () => ({
      type: 'Close-Session',
      url: this.url,
      sessionId: this.sessionId,
      contentName: this.source.name,
    }));
    this.expectOk('Close-Session', verdict);
    this.sessionOpen = false;
  }

  /** Ok, or the error the verdict stands for. */
  private expectOk(packetType: WirePacketType, verdict: Verdict): void {
    switch (verdict.kind) {
      case 'ok':
        return;
      case 'session-lost':
        // Create-Session again for every packet but Cancel-Session (MC-BUP §3.1.5.1.7).
        throw new SessionLost(verdict.error);
      case 'fatal':
      case 'shrink':
      case 'challenge':
      case 'transient':
        throw verdict.error;
      case 'offset':
        throw new ProtocolError(packetType, 200, 'unexpected BITS-Received-Content-Range');
    }
  }

  /**
   * Sends a packet until it gets a non-transient answer. Network errors and retryable statuses
   * wait with backoff, then Ping (a fresh connection re-authenticates, MC-BUP note <9>) and send
   * the packet again; its answer corrects the offset. A streak of failures is bounded by count
   * and by time; any answer ends the streak.
   */
  private async exchange(packetType: WirePacketType, makePacket: () => Packet, size = 0): Promise<Exchange> {
    const policy = this.options.retryPolicy;
    const signal = this.options.signal;
    let streakStarted: number | undefined;
    let attempt = 0;
    let pingFirst = false;
    for (;;) {
      const outcome = await this.attemptOnce(makePacket, size, pingFirst);
      if (!('error' in outcome)) return outcome;
      const failure = outcome;
      attempt++;
      const now = performance.now();
      streakStarted ??= now;
      const delayMs = backoffDelay(attempt, policy, this.random, failure.retryAfterMs);
      if (attempt > policy.retries || now + delayMs - streakStarted > policy.maxElapsedMs) {
        throw new NetworkError(
          `gave up on ${packetType} after ${attempt - 1} retries in ${Math.round(now - streakStarted)} ms: ${failure.error.message}`,
          { cause: failure.error, retryable: false },
        );
      }
      this.retries++;
      this.emit({
        type: 'retry',
        packetType,
        attempt,
        retries: policy.retries,
        delayMs,
        reason: failure.error.message,
      });
      await sleep(delayMs, undefined, signal === undefined ? {} : { signal });
      pingFirst = packetType !== 'Ping';
    }
  }

  /** One try: the resuming Ping if due, then the packet. A transient failure is returned, not thrown. */
  private async attemptOnce(
    makePacket: () => Packet,
    size: number,
    pingFirst: boolean,
  ): Promise<Exchange | { readonly error: BitsClientError; readonly retryAfterMs?: number }> {
    const signal = this.options.signal;
    try {
      if (pingFirst) {
        const pinged = await this.connection.send({ type: 'Ping', url: this.url }, signal);
        if (pinged.verdict.kind === 'transient') return pinged.verdict;
        this.expectOk('Ping', pinged.verdict);
      }
      const exchange = await this.connection.send(makePacket(), signal, size);
      this.hostFailingSince = undefined;
      return exchange.verdict.kind === 'transient' ? exchange.verdict : exchange;
    } catch (error) {
      if (!(error instanceof NetworkError) || !error.retryable || signal?.aborted) throw error;
      this.maybeFallBack();
      return { error };
    }
  }

  /** Unreachable Host-Id node for longer than its fallback timeout: back to the original host (§3.2). */
  private maybeFallBack(): void {
    if (this.hostId === undefined || this.hostFallbackMs === undefined || this.url === this.options.url)
      return;
    const now = performance.now();
    this.hostFailingSince ??= now;
    if (now - this.hostFailingSince >= this.hostFallbackMs) {
      this.url = this.options.url;
      this.emit({ type: 'host-fallback', url: displayUrl(this.url) });
    }
  }

  private progress(): void {
    this.options.onProgress?.({
      bytesAcked: this.offset,
      totalBytes: this.source.size,
      fragmentSize: this.fragmentSize,
      elapsedMs: performance.now() - this.started,
    });
  }

  private emit(event: UploadEvent): void {
    this.options.onEvent?.(event);
  }

  private result(): UploadResult {
    return {
      url: this.options.url.href,
      sessionId: this.sessionId ?? '',
      protocol: this.protocol,
      bytes: this.source.size,
      bytesSent: this.bytesSent,
      fragments: this.fragments,
      fragmentSize: this.fragmentSize,
      retries: this.retries,
      restarts: this.restarts,
      elapsedMs: Math.round(performance.now() - this.started),
      ...(this.hostId === undefined ? {} : { hostId: this.hostId }),
      ...(this.replyUrl === undefined ? {} : { replyUrl: this.replyUrl }),
      ...(this.reply === undefined ? {} : { reply: this.reply }),
    };
  }
}
