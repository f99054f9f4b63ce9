/** User metadata stored on the final object (S3 `x-amz-meta-*`). */
export type ObjectMetadata = Readonly<Record<string, string>>;

export interface MultipartUpload {
  readonly key: string;
  readonly uploadId: string;
}

export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
  /** The part's checksum as UploadPart returned it (absent for parts recorded without one). */
  readonly checksum?: string;
}

/** What UploadPart stored: the ETag, and the part's checksum for the full-object checksum. */
export interface UploadedPart {
  readonly etag: string;
  /** Base64 CRC32 of the part (see S3UploadStore), which S3 verified on receipt. */
  readonly checksum?: string;
}

export interface WriteOptions {
  /** When false, the write fails with DestinationExistsError if the key exists. */
  readonly overwrite: boolean;
}

/** An object being read: its body streams, sizes are known up front. */
export interface ObjectContent {
  /** Size of the whole object. */
  readonly size: number;
  /** Bytes in `body` (the range asked for, or the whole object). */
  readonly contentLength: number;
  readonly body: AsyncIterable<Uint8Array>;
}

/** An object's identity as S3 tells it (upload-reply: the object notified, a reply served). */
export interface ObjectVersion {
  readonly size: number;
  readonly metadata: ObjectMetadata;
  /** Quoted entity tag; a read pinned to it (If-Match) never returns another object. */
  readonly etag: string;
  /** Set on a versioned bucket only. */
  readonly versionId?: string;
}

/** What a staged chunk held when read: its size and the base64 SHA-256 of all its bytes. */
export interface StagedChunkRead {
  readonly length: number;
  readonly sha256: string;
}

export interface UploadStore {
  /** Metadata of the object at key, or undefined when there is none. */
  headObject(key: string): Promise<{ readonly metadata: ObjectMetadata; readonly size: number } | undefined>;
  createMultipartUpload(key: string, metadata: ObjectMetadata): Promise<MultipartUpload>;
  /** Returns the part's ETag and checksum. Throws UploadNotFoundError when the upload is gone. */
  uploadPart(upload: MultipartUpload, partNumber: number, body: Uint8Array): Promise<UploadedPart>;
  /**
   * Completes the object from the parts, in the order given. When every part has a checksum they
   * are sent along, and the object gets a full-object checksum of the whole file. Throws
   * UploadNotFoundError, DestinationExistsError or InvalidPartsError.
   */
  completeMultipartUpload(
    upload: MultipartUpload,
    parts: readonly CompletedPart[],
    options: WriteOptions,
  ): Promise<void>;
  /** Succeeds when the upload is already gone. */
  abortMultipartUpload(upload: MultipartUpload): Promise<void>;
  /** Writes a whole (small) object in one request: used for empty files. */
  putObject(key: string, body: Uint8Array, metadata: ObjectMetadata, options: WriteOptions): Promise<void>;
  /**
   * Writes a staged chunk. `sha256` is the body's base64 SHA-256, which the caller has computed
   * anyway (it names the key): S3 checks the bytes it stores against it, and the request is signed
   * with it instead of hashing the body a second time.
   */
  putStagedChunk(key: string, body: Uint8Array, sha256: string): Promise<void>;
  /**
   * Streams a staged chunk into `into` (bytes past its length are counted, not written) and returns
   * how many bytes the object has and their base64 SHA-256, so the caller can verify both without
   * holding a second copy. Throws StagedChunkMissingError when the object is gone.
   */
  readStagedChunk(key: string, into: Uint8Array): Promise<StagedChunkRead>;
  /** Best effort; missing keys are fine. */
  deleteStagedChunks(keys: readonly string[]): Promise<void>;
  /** Deletes every staged object under the prefix (cleanup at close and cancel). */
  deleteStagingPrefix(prefix: string): Promise<void>;
  /** Size, metadata, ETag and version of the object at key, or undefined (upload-reply). */
  inspectObject(key: string): Promise<ObjectVersion | undefined>;
  /**
   * Reads an object, or its bytes [start, end] (inclusive, within the object), streaming;
   * undefined when there is none (upload-reply: by-value notifications and reply downloads).
   * With `ifMatch` (a quoted ETag), only that object: another one at the key throws
   * ObjectChangedError.
   */
  readObject(
    key: string,
    range?: { readonly start: number; readonly end: number },
    ifMatch?: string,
  ): Promise<ObjectContent | undefined>;
  /** Deletes one object (a reply); a missing key is fine. */
  deleteObject(key: string): Promise<void>;
  /**
   * Deletes every object under a session's reply folder (non-empty prefix): the replies the
   * application wrote and the ones we served, of every attempt.
   */
  deleteReplyFolder(prefix: string): Promise<void>;
}
