import type { Logger } from '@aws-lambda-powertools/logger';
import type { Authenticate } from '../auth/authenticate';
import type { Config } from '../config';
import type { BitsMetrics } from '../observability/metrics';
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
}

export type PacketHandler = (request: BitsRequest, deps: HandlerDeps) => Promise<BitsAck>;
