import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  DestinationExistsError,
  InvalidPartsError,
  StagedChunkMissingError,
  StoreUnavailableError,
  UploadNotFoundError,
} from '../ports/errors';
import type {
  CompletedPart,
  MultipartUpload,
  ObjectMetadata,
  UploadStore,
  WriteOptions,
} from '../ports/upload-store';
import { errorCode, hasCode, httpStatus, translateUnknown } from './aws-errors';

/** DeleteObjects takes at most 1,000 keys. */
const DELETE_BATCH = 1000;

/** CompleteMultipartUpload's verdicts on the part list itself: an unknown part or ETag, order, size. */
const INVALID_PARTS_CODES: ReadonlySet<string> = new Set([
  'InvalidPart',
  'InvalidPartOrder',
  'EntityTooSmall',
]);

/** Per-key DeleteObjects failures that are S3 being busy rather than a refusal. */
const TRANSIENT_DELETE_CODES: ReadonlySet<string> = new Set([
  'InternalError',
  'SlowDown',
  'ServiceUnavailable',
]);

const isNoSuchUpload = (error: unknown) => errorCode(error) === 'NoSuchUpload';

/**
 * Conditional-write failures (platform.md §3): 412 means the key exists, so an overwrite was
 * refused; 409 means a concurrent write raced ours, which is worth retrying.
 */
function translateConditionalWrite(error: unknown, key: string, operation: string): never {
  if (errorCode(error) === 'PreconditionFailed' || httpStatus(error) === 412) {
    throw new DestinationExistsError(`${key} exists`, { cause: error });
  }
  if (errorCode(error) === 'ConditionalRequestConflict') {
    throw new StoreUnavailableError(`${operation}: concurrent write to ${key}`, { cause: error });
  }
  return translateUnknown(error, operation);
}

/** `If-None-Match: *` makes S3 refuse to replace an existing object (412). */
const ifAbsent = (options: WriteOptions) => (options.overwrite ? {} : { IfNoneMatch: '*' });

/**
 * UploadStore on one S3 bucket: destination objects through multipart uploads, staged chunks as
 * small objects under the staging prefix. Part ETags are kept by the caller (DynamoDB), so this
 * never calls ListParts.
 */
export class S3UploadStore implements UploadStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async headObject(key: string): Promise<{ metadata: ObjectMetadata; size: number } | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { metadata: head.Metadata ?? {}, size: head.ContentLength ?? 0 };
    } catch (error) {
      // HEAD responses have no body, so a missing key shows only as 404 `NotFound`.
      if (errorCode(error) === 'NotFound' || httpStatus(error) === 404) return undefined;
      return translateUnknown(error, 'headObject');
    }
  }

  async createMultipartUpload(key: string, metadata: ObjectMetadata): Promise<MultipartUpload> {
    try {
      const { UploadId } = await this.s3.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, Metadata: { ...metadata } }),
      );
      if (UploadId === undefined) throw new Error(`CreateMultipartUpload for ${key} returned no UploadId`);
      return { key, uploadId: UploadId };
    } catch (error) {
      return translateUnknown(error, 'createMultipartUpload');
    }
  }

  async uploadPart(upload: MultipartUpload, partNumber: number, body: Uint8Array): Promise<string> {
    try {
      const { ETag } = await this.s3.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: upload.key,
          UploadId: upload.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      );
      if (ETag === undefined) throw new Error(`UploadPart ${partNumber} of ${upload.key} returned no ETag`);
      return ETag;
    } catch (error) {
      if (isNoSuchUpload(error)) {
        throw new UploadNotFoundError(`upload ${upload.uploadId} of ${upload.key} is gone`, { cause: error });
      }
      return translateUnknown(error, 'uploadPart');
    }
  }

  async completeMultipartUpload(
    upload: MultipartUpload,
    parts: readonly CompletedPart[],
    options: WriteOptions,
  ): Promise<void> {
    // S3 answers an empty list with a generic MalformedXML; say what is wrong without asking.
    if (parts.length === 0) throw new InvalidPartsError(`${upload.key}: no parts to complete`);
    try {
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: upload.key,
          UploadId: upload.uploadId,
          // The caller's list, in the caller's order: S3 checks it, we never reorder or fill gaps.
          MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) },
          ...ifAbsent(options),
        }),
      );
    } catch (error) {
      if (isNoSuchUpload(error)) {
        throw new UploadNotFoundError(`upload ${upload.uploadId} of ${upload.key} is gone`, { cause: error });
      }
      if (hasCode(error, INVALID_PARTS_CODES)) {
        throw new InvalidPartsError(`${upload.key}: ${errorCode(error)}`, { cause: error });
      }
      translateConditionalWrite(error, upload.key, 'completeMultipartUpload');
    }
  }

  async abortMultipartUpload(upload: MultipartUpload): Promise<void> {
    try {
      await this.s3.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.key, UploadId: upload.uploadId }),
      );
    } catch (error) {
      // Already aborted or completed: the goal of the call is reached.
      if (isNoSuchUpload(error)) return;
      translateUnknown(error, 'abortMultipartUpload');
    }
  }

  async putObject(
    key: string,
    body: Uint8Array,
    metadata: ObjectMetadata,
    options: WriteOptions,
  ): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          Metadata: { ...metadata },
          ...ifAbsent(options),
        }),
      );
    } catch (error) {
      translateConditionalWrite(error, key, 'putObject');
    }
  }

  async putStagedChunk(key: string, body: Uint8Array): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length }),
      );
    } catch (error) {
      translateUnknown(error, 'putStagedChunk');
    }
  }

  async getStagedChunk(key: string): Promise<Uint8Array> {
    try {
      const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (Body === undefined) throw new Error(`GetObject ${key} returned no body`);
      // Read to the end here: the caller verifies length and checksum of the whole chunk.
      return await Body.transformToByteArray();
    } catch (error) {
      if (errorCode(error) === 'NoSuchKey') {
        throw new StagedChunkMissingError(`${key} missing`, { cause: error });
      }
      return translateUnknown(error, 'getStagedChunk');
    }
  }

  async deleteStagedChunks(keys: readonly string[]): Promise<void> {
    for (let index = 0; index < keys.length; index += DELETE_BATCH) {
      await this.deleteObjects(keys.slice(index, index + DELETE_BATCH));
    }
  }

  async deleteStagingPrefix(prefix: string): Promise<void> {
    // An empty prefix would name the whole bucket, destination objects included.
    if (prefix === '') throw new Error('deleteStagingPrefix needs a non-empty prefix');
    let token: string | undefined;
    do {
      let page: { keys: string[]; next: string | undefined };
      try {
        const listed = await this.s3.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        page = {
          keys: (listed.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key])),
          next: listed.IsTruncated ? listed.NextContinuationToken : undefined,
        };
      } catch (error) {
        return translateUnknown(error, 'deleteStagingPrefix');
      }
      // A listing page holds at most 1,000 keys: one DeleteObjects each.
      await this.deleteObjects(page.keys);
      token = page.next;
    } while (token !== undefined);
  }

  /** One DeleteObjects request (≤ 1,000 keys); keys that do not exist count as deleted. */
  private async deleteObjects(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    let failed: { readonly Key?: string; readonly Code?: string }[];
    try {
      const result = await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((key) => ({ Key: key })), Quiet: true },
        }),
      );
      failed = result.Errors ?? [];
    } catch (error) {
      return translateUnknown(error, 'deleteObjects');
    }
    // DeleteObjects reports per-key failures in a 200 response, so they must be looked for.
    if (failed.length === 0) return;
    const message = `could not delete ${failed.length} objects: ${failed
      .slice(0, 3)
      .map((entry) => `${entry.Key} (${entry.Code})`)
      .join(', ')}`;
    if (failed.every((entry) => TRANSIENT_DELETE_CODES.has(entry.Code ?? ''))) {
      throw new StoreUnavailableError(message);
    }
    throw new Error(message);
  }
}
