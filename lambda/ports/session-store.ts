/** A staged chunk: bytes [start, end) of the file kept as one object until they fill a part. */
export interface StagedChunk {
  readonly start: number;
  /** Exclusive end offset. */
  readonly end: number;
  /** Object key under the staging prefix. */
  readonly key: string;
  /** Base64 sha256 of the chunk's bytes, verified when read back. */
  readonly checksum: string;
  /** Compaction level: 0 for bytes of one fragment, L+1 for a merge of level-L chunks. */
  readonly level: number;
}

/**
 * `closing` seals a complete session while Close-Session commits it, so no fragment can commit
 * after Close has decided what the object holds.
 */
export type SessionState = 'open' | 'closing' | 'closed' | 'cancelled';

/** The session's META record. Small by construction: at most MAX_STAGED_CHUNKS chunks. */
export interface Session {
  readonly id: string;
  /** Destination object key. */
  readonly key: string;
  /** URL path the client named at Create-Session. */
  readonly originalPath: string;
  readonly uploadId: string;
  readonly owner: string;
  readonly state: SessionState;
  /** Declared file size, set by the first fragment. */
  readonly totalSize?: number;
  /** Part size, fixed with totalSize. */
  readonly partSize?: number;
  /** Bytes acknowledged: the next offset the server expects. */
  readonly nextOffset: number;
  /** Whole parts uploaded: parts 1..partsDone cover [0, partsDone · partSize). */
  readonly partsDone: number;
  /** Chunks covering [partsDone · partSize, nextOffset), oldest first. */
  readonly staged: readonly StagedChunk[];
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch milliseconds; the record counts as gone from this instant on. */
  readonly expiresAt: number;
}

/** One uploaded S3 part, stored as its own small item. */
export interface PartRecord {
  readonly partNumber: number;
  readonly etag: string;
  readonly size: number;
}

/** The fields a fragment changes, written together in one conditional update. */
export interface SessionProgress {
  readonly totalSize: number;
  readonly partSize: number;
  readonly nextOffset: number;
  readonly partsDone: number;
  readonly staged: readonly StagedChunk[];
  readonly expiresAt: number;
}

/** What a conditional write saw: applied, or the state that made it fail (undefined if gone). */
export type ConditionalResult =
  | { readonly applied: true }
  | { readonly applied: false; readonly current?: Session };

export interface SessionStore {
  /** Stores a new session; throws SessionExistsError when the id is taken. */
  createSession(session: Session): Promise<void>;
  /** The stored record, expired or not (callers check expiresAt), or undefined. */
  getSession(id: string): Promise<Session | undefined>;
  /**
   * Writes progress if the session is open, unexpired at `now` and still at `expectedOffset`.
   */
  advanceSession(
    id: string,
    expected: { readonly nextOffset: number; readonly now: number },
    progress: SessionProgress,
  ): Promise<ConditionalResult>;
  /**
   * Moves an open or closing session to `closing`, `closed` or `cancelled` with a new expiry (for a
   * finished one, the tombstone's lifetime) and no staged chunks; with `expected`, only while the
   * session is still at that offset (sealing for Close-Session).
   */
  finishSession(
    id: string,
    state: 'closing' | 'closed' | 'cancelled',
    expiresAt: number,
    expected?: { readonly nextOffset: number },
  ): Promise<ConditionalResult>;
  /** Idempotent: rewriting a part number replaces its record. */
  putPart(id: string, part: PartRecord): Promise<void>;
  /** All part records of the session in ascending part number. */
  listParts(id: string): Promise<PartRecord[]>;
  deleteParts(id: string): Promise<void>;
  /**
   * How many sessions of `owner` are open and unexpired at `now` (the per-principal limit). May
   * lag recent writes by a moment (DynamoDB answers from an eventually consistent index).
   */
  countOpenSessions(owner: string, now: number): Promise<number>;
}
