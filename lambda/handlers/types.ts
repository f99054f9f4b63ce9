import type { Logger } from '@aws-lambda-powertools/logger';
import type { PartBuffers } from '../assembler/part-buffers';
import type { SessionCache } from '../assembler/session-cache';
import type { Authenticate } from '../auth/authenticate';
import type { Config } from '../config';
import type { BitsMetrics } from '../observability/metrics';
import type { NotificationTarget } from '../ports/notification-target';
import type { ObjectLinks } from '../ports/object-links';
import type { SessionStore } from '../ports/session-store';
import type { UploadStore } from '../ports/upload-store';
import type { BitsRequest } from '../protocol/request';
import type { BitsAck } from '../protocol/response';

/** Everything a packet handler may use; built once in lambda/index.ts (or by a test). */
export interface HandlerDeps {
  readonly config: Config;
  readonly sessions: SessionStore;
  readonly uploads: UploadStore;
  readonly logger: Logger;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** A fresh `{GUID}` session id from 122 random bits (§12 D15). */
  readonly newSessionId: () => string;
  /**
   * CloudWatch EMF metrics; absent means none are recorded. Handlers only `record` into it:
   * create-handler gives each Lambda invocation its own copy and publishes it once at the end.
   */
  readonly metrics?: BitsMetrics;
  /**
   * Establishes the principal before the packet is parsed, or refuses with 401 (lambda/auth).
   * Absent: the front's principal, or `anonymous`.
   */
  readonly authenticate?: Authenticate;
  /**
   * Session records this environment saw last (lambda/assembler/session-cache.ts): Fragment tries
   * its commit on one without reading first. Absent: every Fragment reads the record.
   */
  readonly sessionCache?: SessionCache;
  /**
   * Bytes of sessions' current parts this environment staged (lambda/assembler/part-buffers.ts):
   * a part is then uploaded without reading its staged chunks back. Absent: always read back.
   */
  readonly partBuffers?: PartBuffers;
  /**
   * Upload-reply (config.notificationType other than none): the server application, and links to
   * objects for it. Both are required then; composeDeps builds them from the configuration.
   */
  readonly notifier?: NotificationTarget;
  readonly links?: ObjectLinks;
  /**
   * Milliseconds this request has left before the platform ends it, set per request by
   * create-handler: Lambda's `context.getRemainingTimeInMillis()`, else what is left of
   * requestBudgetMs. Upload-reply bounds the application's call by it. Absent: no limit known.
   */
  readonly remainingMs?: () => number;
  /**
   * Without a Lambda context (the local server): each request's time budget, as the function's
   * timeout would give it on AWS, so the local server ends requests as Lambda would.
   */
  readonly requestBudgetMs?: number;
}

export type PacketHandler = (request: BitsRequest, deps: HandlerDeps) => Promise<BitsAck>;
