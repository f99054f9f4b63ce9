/**
 * A staged chunk: bytes [start, end) of the file kept as one object until they fill a part. Its
 * object key follows from the session, the range and the checksum (lambda/assembler/staging.ts), so
 * the record does not store it.
 */
export interface StagedChunk {
  readonly start: number;
  /** Exclusive end offset. */
  readonly end: number;
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
  /**
   * Upload-reply: the application's answer, stored once (the session stays `closing` until Close,
   * Cancel or expiry); a retried final fragment is acked with it and never notifies again.
   */
  readonly reply?: StoredReply;
  /** Upload-reply: a request is calling the application until this instant (epoch ms). */
  readonly notifyingUntil?: number;
}

/** The reply of an upload-reply session (README "Upload-reply and notifications"). */
export interface StoredReply {
  /** BITS-Reply-URL as acked: relative for a reply we hold, the application's own for a static one. */
  readonly url: string;
  /** Set when we hold the reply (an object only the server writes, README "Upload-reply"). */
  readonly object?: {
    /** `<replyPrefix><session id>/<attempt>/responsefile.bin`. */
    readonly key: string;
    readonly size: number;
    /** S3's entity tag of that object (quoted): downloads read with If-Match and send it as ETag. */
    readonly etag: string;
    /** Epoch milliseconds: Last-Modified of the downloads. */
    readonly storedAt: number;
  };
}

/** One uploaded S3 part, stored as its own small item. */
export interface PartRecord {
  readonly partNumber: number;
  readonly etag: string;
  readonly size: number;
  /** The part's checksum from UploadPart; absent in records written before parts had one. */
  readonly checksum?: string;
}

/** The fields a fragment changes, written together in one conditional update. */
export interface SessionProgress {
  readonly totalSize: number;
  readonly partSize: number;
  readonly nextOffset: number;
  readonly partsDone: number;
  readonly staged: readonly StagedChunk[];
  /**
   * The new expiry; absent, the stored one stays. expiresAt sorts the owner index, so each change
   * of it also rewrites the session's index entry (lambda/assembler/store-fragment.ts).
   */
  readonly expiresAt?: number;
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
  /**
   * Upload-reply: takes the right to call the application until `until`, if the session is
   * `closing`, still unexpired at `until` (its reply must outlive the call), has no reply yet and
   * no other request holds an unexpired claim at `now`.
   */
  claimNotification(
    id: string,
    claim: { readonly now: number; readonly until: number },
  ): Promise<ConditionalResult>;
  /**
   * Stores the reply and drops the claim, if the session is `closing`, has no reply yet and the
   * claim is still the caller's (taken with `claimedUntil`): a request that outlived its claim
   * never records over the request that took it over.
   */
  recordReply(id: string, claimedUntil: number, reply: StoredReply): Promise<ConditionalResult>;
  /** Drops the claim taken with `until` (the call failed; a retry may notify again). Best effort. */
  releaseNotification(id: string, until: number): Promise<void>;
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
