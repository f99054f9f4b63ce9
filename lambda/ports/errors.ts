/** Domain errors the adapters raise at their boundary; handlers and the renderer understand these. */
abstract class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** createSession found the id taken. */
export class SessionExistsError extends StoreError {}
/** The multipart upload no longer exists (completed or aborted). */
export class UploadNotFoundError extends StoreError {}
/** A conditional write refused to replace an existing destination object. */
export class DestinationExistsError extends StoreError {}
/** CompleteMultipartUpload rejected the part list (size, order or ETag). */
export class InvalidPartsError extends StoreError {}
/** A staged chunk is missing or its bytes do not match the recorded length and checksum. */
export class StagedChunkMissingError extends StoreError {}
/** A read pinned to an entity tag found another object at the key (S3 412 on If-Match). */
export class ObjectChangedError extends StoreError {}
/** The back end throttled or failed transiently after the SDK's own retries. */
export class StoreUnavailableError extends StoreError {}
