/** User metadata stored on the final object (S3 `x-amz-meta-*`). */
export type ObjectMetadata = Readonly<Record<string, string>>;

export interface MultipartUpload {
  readonly key: string;
  readonly uploadId: string;
}

export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
}

export interface WriteOptions {
  /** When false, the write fails with DestinationExistsError if the key exists. */
  readonly overwrite: boolean;
}

export interface UploadStore {
  /** Metadata of the object at key, or undefined when there is none. */
  headObject(key: string): Promise<{ readonly metadata: ObjectMetadata; readonly size: number } | undefined>;
  createMultipartUpload(key: string, metadata: ObjectMetadata): Promise<MultipartUpload>;
  /** Returns the part's ETag. Throws UploadNotFoundError when the upload is gone. */
  uploadPart(upload: MultipartUpload, partNumber: number, body: Uint8Array): Promise<string>;
  /** Throws UploadNotFoundError, DestinationExistsError or InvalidPartsError. */
  completeMultipartUpload(
    upload: MultipartUpload,
    parts: readonly CompletedPart[],
    options: WriteOptions,
  ): Promise<void>;
  /** Succeeds when the upload is already gone. */
  abortMultipartUpload(upload: MultipartUpload): Promise<void>;
  /** Writes a whole (small) object in one request: used for empty files. */
  putObject(key: string, body: Uint8Array, metadata: ObjectMetadata, options: WriteOptions): Promise<void>;
  putStagedChunk(key: string, body: Uint8Array): Promise<void>;
  /** Throws StagedChunkMissingError when the object is gone; the caller verifies length and checksum. */
  getStagedChunk(key: string): Promise<Uint8Array>;
  /** Best effort; missing keys are fine. */
  deleteStagedChunks(keys: readonly string[]): Promise<void>;
  /** Deletes every staged object under the prefix (cleanup at close and cancel). */
  deleteStagingPrefix(prefix: string): Promise<void>;
}
