import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  type PutObjectCommandOutput,
  type S3Client,
  UploadPartCommand,
  type UploadPartCommandInput,
  type UploadPartCommandOutput,
} from '@aws-sdk/client-s3';
import type { BuildMiddleware } from '@smithy/types';
import {
  DestinationExistsError,
  InvalidPartsError,
  ObjectChangedError,
  StagedChunkMissingError,
  StoreUnavailableError,
  UploadNotFoundError,
} from '../ports/errors';
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

/** SigV4's `x-amz-content-sha256` for a body the signature does not cover. */
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/**
 * Signs a request with a payload SHA-256 the caller already has (SigV4's `x-amz-content-sha256`,
 * hex), so the SDK does not hash the body again; S3 refuses the request when the body differs.
 * With UNSIGNED_PAYLOAD the body is not hashed at all.
 */
const signWithPayloadHash =
  <Input extends object, Output extends object>(sha256Hex: string): BuildMiddleware<Input, Output> =>
  (next) =>
  (args) => {
    const request = args.request as { headers?: Record<string, string> };
    if (request.headers !== undefined) request.headers['x-amz-content-sha256'] = sha256Hex;
    return next(args);
  };

export interface S3UploadStoreOptions {
  /**
   * Create uploads with a full-object CRC32 and complete them with the parts' CRC32s. Default: on
   * for AWS S3, off for a custom endpoint. fauxqs 1.9.2 reads a Complete part list with a pattern
   * that only knows PartNumber and ETag: given checksums it matches no part and completes an empty
   * object. Parts are uploaded with their CRC32 either way, which S3 verifies on receipt.
   */
  readonly fullObjectChecksums?: boolean;
}

/**
 * CRC32 as S3 encodes it (4 bytes big-endian, base64). The checksum of a finished object is a
 * full-object CRC32 that S3 combines from the parts' (CRC64NVME, S3's own default, would need the
 * SDK's JavaScript CRC64, about ten times slower than zlib's CRC32 here; bench/README.md).
 */
export function crc32Base64(body: Uint8Array): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(crc32(body) >>> 0);
  return bytes.toString('base64');
}

/** zlib's native CRC32 (Node 20.15, 22.2 and later), or a table-driven one before that. */
const crc32: (data: Uint8Array) => number =
  typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : crc32Table;

let CRC32_TABLE: Uint32Array | undefined;
/** CRC-32 (ISO-HDLC, zlib's) one byte at a time: the fallback for Node releases without zlib.crc32. */
export function crc32Table(data: Uint8Array): number {
  if (CRC32_TABLE === undefined) {
    CRC32_TABLE = new Uint32Array(256);
    for (let index = 0; index < 256; index += 1) {
      let value = index;
      for (let bit = 0; bit < 8; bit += 1) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
      CRC32_TABLE[index] = value >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** `If-None-Match: *` makes S3 refuse to replace an existing object (412). */
const ifAbsent = (options: WriteOptions) => (options.overwrite ? {} : { IfNoneMatch: '*' });

/**
 * UploadStore on one S3 bucket: destination objects through multipart uploads, staged chunks as
 * small objects under the staging prefix. Part ETags are kept by the caller (DynamoDB), so this
 * never calls ListParts.
 */
export class S3UploadStore implements UploadStore {
  /** Whether uploads carry a full-object CRC32 (S3UploadStoreOptions). */
  private readonly fullObjectChecksums: boolean;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    options: S3UploadStoreOptions = {},
  ) {
    this.fullObjectChecksums =
      options.fullObjectChecksums ?? !(s3.config as { isCustomEndpoint?: boolean }).isCustomEndpoint;
  }

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
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          Metadata: { ...metadata },
          // The finished object carries a CRC32 of the whole file, which S3 combines from the parts'.
          ...(this.fullObjectChecksums ? { ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' } : {}),
        }),
      );
      if (UploadId === undefined) throw new Error(`CreateMultipartUpload for ${key} returned no UploadId`);
      return { key, uploadId: UploadId };
    } catch (error) {
      return translateUnknown(error, 'createMultipartUpload');
    }
  }

  async uploadPart(upload: MultipartUpload, partNumber: number, body: Uint8Array): Promise<UploadedPart> {
    // Computed here rather than by the SDK, so the value is known whether or not S3 echoes it.
    const checksum = crc32Base64(body);
    try {
      const command = new UploadPartCommand({
        Bucket: this.bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
        ChecksumAlgorithm: 'CRC32',
        ChecksumCRC32: checksum,
      });
      // S3 checks the part against its CRC32, sent in a signed header (over TLS to AWS): the
      // SDK's SigV4 SHA-256 of the body would be a second pass over every part for nothing.
      command.middlewareStack.add(
        signWithPayloadHash<UploadPartCommandInput, UploadPartCommandOutput>(UNSIGNED_PAYLOAD),
        { step: 'build', name: 'unsignedPartPayload' },
      );
      const { ETag } = await this.s3.send(command);
      if (ETag === undefined) throw new Error(`UploadPart ${partNumber} of ${upload.key} returned no ETag`);
      return { etag: ETag, checksum };
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
    // Part records written before parts had checksums have none: then none are sent.
    const withChecksums = this.fullObjectChecksums && parts.every((part) => part.checksum !== undefined);
    try {
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: upload.key,
          UploadId: upload.uploadId,
          // The caller's list, in the caller's order: S3 checks it, we never reorder or fill gaps.
          MultipartUpload: {
            Parts: parts.map((part) => ({
              PartNumber: part.partNumber,
              ETag: part.etag,
              ...(withChecksums ? { ChecksumCRC32: part.checksum } : {}),
            })),
          },
          ...(withChecksums ? { ChecksumType: 'FULL_OBJECT' as const } : {}),
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
          // A whole object's CRC32 is a full-object checksum, like a completed upload's.
          ChecksumAlgorithm: 'CRC32',
          ...ifAbsent(options),
        }),
      );
    } catch (error) {
      translateConditionalWrite(error, key, 'putObject');
    }
  }

  async putStagedChunk(key: string, body: Uint8Array, sha256: string): Promise<void> {
    try {
      const command = new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        // S3 verifies the stored bytes against the caller's digest; the SDK then computes no CRC32.
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: sha256,
      });
      command.middlewareStack.add(
        signWithPayloadHash<PutObjectCommandInput, PutObjectCommandOutput>(
          Buffer.from(sha256, 'base64').toString('hex'),
        ),
        {
          step: 'build',
          name: 'stagedChunkPayloadHash',
        },
      );
      await this.s3.send(command);
    } catch (error) {
      translateUnknown(error, 'putStagedChunk');
    }
  }

  async readStagedChunk(key: string, into: Uint8Array): Promise<StagedChunkRead> {
    try {
      const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (Body === undefined) throw new Error(`GetObject ${key} returned no body`);
      // Each piece is copied into place and hashed as it arrives: no second copy of the chunk.
      const hash = createHash('sha256');
      let length = 0;
      for await (const piece of Body as AsyncIterable<Uint8Array>) {
        hash.update(piece);
        if (length < into.length) into.set(piece.subarray(0, into.length - length), length);
        length += piece.length;
      }
      return { length, sha256: hash.digest('base64') };
    } catch (error) {
      if (errorCode(error) === 'NoSuchKey') {
        throw new StagedChunkMissingError(`${key} missing`, { cause: error });
      }
      return translateUnknown(error, 'readStagedChunk');
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

  async readObject(
    key: string,
    range?: { readonly start: number; readonly end: number },
    ifMatch?: string,
  ): Promise<ObjectContent | undefined> {
    try {
      const object = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
          ...(ifMatch === undefined ? {} : { IfMatch: ifMatch }),
        }),
      );
      const body = object.Body as AsyncIterable<Uint8Array> | undefined;
      if (body === undefined) throw new Error(`GetObject ${key} returned no body`);
      const contentLength = object.ContentLength ?? 0;
      // A ranged GET tells the whole size only in Content-Range: `bytes a-b/size`.
      const size = Number(object.ContentRange?.split('/')[1] ?? contentLength);
      return { size: Number.isSafeInteger(size) ? size : contentLength, contentLength, body };
    } catch (error) {
      if (errorCode(error) === 'NoSuchKey' || httpStatus(error) === 404) return undefined;
      // If-Match failed (412), or a range past the end of what is there now (416): not the object
      // the caller pinned.
      if (ifMatch !== undefined && [412, 416].includes(httpStatus(error) ?? 0)) {
        throw new ObjectChangedError(`${key} is no longer ${ifMatch}`, { cause: error });
      }
      return translateUnknown(error, 'readObject');
    }
  }

  async inspectObject(key: string): Promise<ObjectVersion | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      if (head.ETag === undefined) throw new Error(`HeadObject ${key} returned no ETag`);
      return {
        size: head.ContentLength ?? 0,
        metadata: head.Metadata ?? {},
        etag: head.ETag,
        // An unversioned bucket answers no version, or the literal `null`.
        ...(head.VersionId === undefined || head.VersionId === 'null' ? {} : { versionId: head.VersionId }),
      };
    } catch (error) {
      if (errorCode(error) === 'NotFound' || httpStatus(error) === 404) return undefined;
      return translateUnknown(error, 'inspectObject');
    }
  }

  async deleteReplyFolder(prefix: string): Promise<void> {
    // The same listing and batched delete as a staging folder; the empty-prefix guard included.
    await this.deleteStagingPrefix(prefix);
  }

  async deleteObject(key: string): Promise<void> {
    try {
      // S3 answers 204 for a key that does not exist.
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      translateUnknown(error, 'deleteObject');
    }
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
