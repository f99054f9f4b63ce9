import { createHash, randomUUID } from 'node:crypto';
import { crc32Base64 } from '../../lambda/adapters/s3-upload-store';
import { S3_MAX_PARTS, S3_MIN_PART_SIZE } from '../../lambda/config';
import {
  DestinationExistsError,
  InvalidPartsError,
  ObjectChangedError,
  StagedChunkMissingError,
  UploadNotFoundError,
} from '../../lambda/ports/errors';
import type {
  CompletedPart,
  MultipartUpload,
  ObjectContent,
  ObjectMetadata,
  ObjectVersion,
  StagedChunkRead,
  UploadedPart,
  UploadStore,
  WriteOptions,
} from '../../lambda/ports/upload-store';

interface StoredObject {
  readonly body: Buffer;
  readonly metadata: ObjectMetadata;
}

interface PendingUpload {
  readonly key: string;
  readonly metadata: ObjectMetadata;
  readonly parts: Map<number, { readonly body: Buffer; readonly etag: string; readonly checksum: string }>;
}

const etagOf = (body: Uint8Array): string => `"${createHash('md5').update(body).digest('hex')}"`;
const sha256Of = (body: Uint8Array): string => createHash('sha256').update(body).digest('base64');

/**
 * In-memory UploadStore with S3's multipart rules: parts of 5 MiB or more except the last (checked
 * at complete, as S3 does), at most 10,000 parts, ETags must match, abort removes the upload.
 */
export class MemoryUploadStore implements UploadStore {
  readonly objects = new Map<string, StoredObject>();
  readonly uploads = new Map<string, PendingUpload>();
  /** Requests and bytes by operation, for assertions on write and read amplification. */
  readonly requests = new Map<string, number>();
  bytesWritten = 0;
  bytesRead = 0;

  async headObject(key: string): Promise<{ metadata: ObjectMetadata; size: number } | undefined> {
    this.count('headObject');
    const object = this.objects.get(key);
    return object === undefined ? undefined : { metadata: { ...object.metadata }, size: object.body.length };
  }

  async createMultipartUpload(key: string, metadata: ObjectMetadata): Promise<MultipartUpload> {
    this.count('createMultipartUpload');
    const uploadId = randomUUID();
    this.uploads.set(uploadId, { key, metadata: { ...metadata }, parts: new Map() });
    return { key, uploadId };
  }

  async uploadPart(upload: MultipartUpload, partNumber: number, body: Uint8Array): Promise<UploadedPart> {
    this.count('uploadPart');
    const pending = this.pending(upload);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > S3_MAX_PARTS) {
      throw new InvalidPartsError(`part number ${partNumber} out of range`);
    }
    const copy = Buffer.from(body);
    this.bytesWritten += copy.length;
    const etag = etagOf(copy);
    const checksum = crc32Base64(copy);
    pending.parts.set(partNumber, { body: copy, etag, checksum });
    return { etag, checksum };
  }

  async completeMultipartUpload(
    upload: MultipartUpload,
    parts: readonly CompletedPart[],
    options: WriteOptions,
  ): Promise<void> {
    this.count('completeMultipartUpload');
    const pending = this.pending(upload);
    if (parts.length === 0 || parts.length > S3_MAX_PARTS) {
      throw new InvalidPartsError(`${parts.length} parts`);
    }
    const bodies = parts.map((part, index) => {
      const stored = pending.parts.get(part.partNumber);
      const previous = parts[index - 1];
      if (previous !== undefined && previous.partNumber >= part.partNumber) {
        throw new InvalidPartsError('parts not in ascending order');
      }
      if (stored === undefined || stored.etag !== part.etag) {
        throw new InvalidPartsError(`part ${part.partNumber} missing or ETag mismatch`);
      }
      // S3 checks a part checksum given at Complete against the one the part was uploaded with.
      if (part.checksum !== undefined && part.checksum !== stored.checksum) {
        throw new InvalidPartsError(`part ${part.partNumber} checksum mismatch`);
      }
      if (index < parts.length - 1 && stored.body.length < S3_MIN_PART_SIZE) {
        throw new InvalidPartsError(
          `EntityTooSmall: part ${part.partNumber} has ${stored.body.length} bytes`,
        );
      }
      return stored.body;
    });
    if (!options.overwrite && this.objects.has(upload.key)) {
      throw new DestinationExistsError(`${upload.key} exists`);
    }
    this.objects.set(upload.key, { body: Buffer.concat(bodies), metadata: pending.metadata });
    this.uploads.delete(upload.uploadId);
  }

  async abortMultipartUpload(upload: MultipartUpload): Promise<void> {
    this.count('abortMultipartUpload');
    this.uploads.delete(upload.uploadId);
  }

  async putObject(
    key: string,
    body: Uint8Array,
    metadata: ObjectMetadata,
    options: WriteOptions,
  ): Promise<void> {
    this.count('putObject');
    if (!options.overwrite && this.objects.has(key)) throw new DestinationExistsError(`${key} exists`);
    this.bytesWritten += body.length;
    this.objects.set(key, { body: Buffer.from(body), metadata: { ...metadata } });
  }

  async putStagedChunk(key: string, body: Uint8Array, sha256: string): Promise<void> {
    this.count('putStagedChunk');
    // S3 refuses a body that does not match its x-amz-checksum-sha256 (BadDigest).
    if (sha256Of(body) !== sha256) throw new Error(`BadDigest: ${key} does not match its SHA-256`);
    this.bytesWritten += body.length;
    this.objects.set(key, { body: Buffer.from(body), metadata: {} });
  }

  async readStagedChunk(key: string, into: Uint8Array): Promise<StagedChunkRead> {
    this.count('readStagedChunk');
    const object = this.objects.get(key);
    if (object === undefined) throw new StagedChunkMissingError(`${key} missing`);
    this.bytesRead += object.body.length;
    into.set(object.body.subarray(0, into.length));
    return { length: object.body.length, sha256: sha256Of(object.body) };
  }

  async deleteStagedChunks(keys: readonly string[]): Promise<void> {
    this.count('deleteStagedChunks');
    for (const key of keys) this.objects.delete(key);
  }

  async deleteStagingPrefix(prefix: string): Promise<void> {
    this.count('deleteStagingPrefix');
    for (const key of [...this.objects.keys()]) if (key.startsWith(prefix)) this.objects.delete(key);
  }

  async readObject(
    key: string,
    range?: { readonly start: number; readonly end: number },
    ifMatch?: string,
  ): Promise<ObjectContent | undefined> {
    this.count('readObject');
    const object = this.objects.get(key);
    if (object === undefined) return undefined;
    // S3 evaluates If-Match before the range: 412 PreconditionFailed.
    if (ifMatch !== undefined && etagOf(object.body) !== ifMatch) {
      throw new ObjectChangedError(`${key} is no longer ${ifMatch}`);
    }
    const bytes = range === undefined ? object.body : object.body.subarray(range.start, range.end + 1);
    this.bytesRead += bytes.length;
    const copy = Buffer.from(bytes);
    return {
      size: object.body.length,
      contentLength: copy.length,
      body: (async function* () {
        yield copy;
      })(),
    };
  }

  async deleteObject(key: string): Promise<void> {
    this.count('deleteObject');
    this.objects.delete(key);
  }

  async inspectObject(key: string): Promise<ObjectVersion | undefined> {
    this.count('inspectObject');
    const object = this.objects.get(key);
    if (object === undefined) return undefined;
    // S3's ETag of an object written in one request: the MD5 of its bytes (unversioned bucket).
    return { size: object.body.length, metadata: { ...object.metadata }, etag: etagOf(object.body) };
  }

  async deleteReplyFolder(prefix: string): Promise<void> {
    this.count('deleteReplyFolder');
    if (prefix === '') throw new Error('deleteReplyFolder needs a non-empty prefix');
    for (const key of [...this.objects.keys()]) if (key.startsWith(prefix)) this.objects.delete(key);
  }

  /** Test helper: keys of objects under a prefix. */
  keysUnder(prefix: string): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix));
  }

  private pending(upload: MultipartUpload): PendingUpload {
    const pending = this.uploads.get(upload.uploadId);
    if (pending === undefined || pending.key !== upload.key) {
      throw new UploadNotFoundError(`NoSuchUpload ${upload.uploadId}`);
    }
    return pending;
  }

  private count(operation: string): void {
    this.requests.set(operation, (this.requests.get(operation) ?? 0) + 1);
  }
}
