import type { ObjectMetadata } from './upload-store';

/** Notification modes of IIS's BITSServerNotificationType 1 and 2 (bits-protocol.md §7, §8). */
export type NotificationMode = 'by-reference' | 'by-value';

/** The facts about a completed upload that every target passes on, whatever its transport. */
export interface UploadFacts {
  readonly type: NotificationMode;
  readonly bucket: string;
  readonly key: string;
  readonly sessionId: string;
  readonly principal: string;
  readonly size: number;
  /** The object's user metadata (`bits-session-id`, `bits-owner`, …). */
  readonly metadata: ObjectMetadata;
  /** The URL the client uploaded to (IIS's BITS-Original-Request-URL). */
  readonly originalRequestUrl: string;
  /** `s3://bucket/key` of the upload (IIS's BITS-Request-DataFile-Name). */
  readonly dataFileName: string;
  /** Presigned GET of the upload (of the version notified, on a versioned bucket). */
  readonly dataFileUrl: string;
  /**
   * By reference only: `s3://bucket/<key>` where the application may write its reply, a key of
   * this attempt alone (`<replyPrefix><session id>/<attempt>/incoming.bin`). The server copies it
   * to the reply it serves, so a write after the answer changes nothing.
   */
  readonly responseFileName?: string;
  /** By reference only: presigned PUT of responseFileName's key. */
  readonly responseFileUrl?: string;
}

/**
 * What the application is told about a completed upload. URLs are presigned and short-lived;
 * they are never logged.
 */
export interface UploadNotice extends UploadFacts {
  /** By value: the object's bytes, read when the target sends them. */
  readonly openBody: () => Promise<AsyncIterable<Uint8Array>>;
}

/** The application's answer: any status (the handler decides what is an error), body, static URL. */
export interface ApplicationAnswer {
  readonly status: number;
  readonly body: Buffer;
  /** BITS-Static-Response-URL (HTTP) or `staticResponseUrl` (function): the reply is elsewhere. */
  readonly staticResponseUrl?: string;
}

/** Calls the server application; built on an HTTP POST or a synchronous Lambda invoke. */
export interface NotificationTarget {
  /**
   * Resolves with whatever the application answered. Throws ApplicationUnreachableError,
   * ApplicationFailedError or ReplyTooLargeError; stops when `signal` aborts (the caller's timeout).
   */
  notify(notice: UploadNotice, signal: AbortSignal): Promise<ApplicationAnswer>;
}

abstract class NotificationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No answer to use: connection refused, DNS, TLS, invoke refused, malformed function answer. */
export class ApplicationUnreachableError extends NotificationError {}
/** The application ran and failed without an HTTP status of its own (a Lambda FunctionError). */
export class ApplicationFailedError extends NotificationError {}
/** The answer's body exceeds what a reply may hold (MAX_REPLY_BYTES). */
export class ReplyTooLargeError extends NotificationError {}
