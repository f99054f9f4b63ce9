import type { Logger } from '@aws-lambda-powertools/logger';
import type { Config } from '../config';
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
}

export type PacketHandler = (request: BitsRequest, deps: HandlerDeps) => Promise<BitsAck>;
