import type { Logger } from '@aws-lambda-powertools/logger';
import { HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { BITS_METADATA, decodeMetadataValue } from './metadata';

/**
 * `detail` of an S3 "Object Created" event on EventBridge
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). `version-id` is present
 * on versioned buckets only.
 */
export interface ObjectCreatedDetail {
  readonly version: string;
  readonly bucket: { readonly name: string };
  readonly object: {
    readonly key: string;
    readonly size: number;
    readonly etag: string;
    readonly 'version-id'?: string;
    readonly sequencer: string;
  };
  readonly 'request-id': string;
  readonly requester: string;
  readonly 'source-ip-address'?: string;
  readonly reason: string;
}

export type ObjectCreatedEvent = EventBridgeEvent<'Object Created', ObjectCreatedDetail>;

/** The object's checksum fields as HeadObject returns them with ChecksumMode ENABLED (base64). */
export interface ObjectChecksum {
  readonly type?: string;
  readonly crc64nvme?: string;
  readonly crc32?: string;
  readonly crc32c?: string;
  readonly sha1?: string;
  readonly sha256?: string;
}

/** What one finished upload looks like to a consumer: the log line's fields. */
export interface UploadSummary {
  readonly bucket: string;
  readonly key: string;
  /** Bytes in the object: the total the client declared (Close-Session completes nothing else). */
  readonly size: number;
  readonly etag: string;
  readonly versionId?: string;
  /** `CompleteMultipartUpload`, or `PutObject` for a 0-byte upload. */
  readonly reason: string;
  readonly sessionId?: string;
  readonly principal?: string;
  /** The URL path as the client sent it, percent-encoding included. */
  readonly originalPath?: string;
  /** The client's Content-Name header, when it sent one. */
  readonly contentName?: string;
  /** When Create-Session started the upload (ISO 8601). */
  readonly createdAt?: string;
  /** When S3 finished the object: the event's `time`. */
  readonly completedAt: string;
  readonly checksum?: ObjectChecksum;
}

export interface ConsumerDeps {
  readonly s3: S3Client;
  readonly logger: Logger;
}

export type UploadConsumer = (
  event: ObjectCreatedEvent,
  context?: Context,
) => Promise<UploadSummary | undefined>;

/** Refuses what the rule should never deliver, so a wrong rule or a test event fails loudly. */
function checkEvent(event: ObjectCreatedEvent): void {
  const { detail } = event;
  if (
    event.source !== 'aws.s3' ||
    event['detail-type'] !== 'Object Created' ||
    typeof detail?.bucket?.name !== 'string' ||
    typeof detail.object?.key !== 'string' ||
    typeof detail.object.etag !== 'string'
  ) {
    throw new TypeError(
      `not an S3 Object Created event: source ${String(event.source)}, detail-type ${String(event['detail-type'])}`,
    );
  }
}

/** HeadObject answers 404 without a body, so the SDK names the error `NotFound`. */
const isNotFound = (error: unknown): boolean =>
  error instanceof Error &&
  (error.name === 'NotFound' ||
    (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404);

/** S3 quotes ETags in responses; events carry them bare. */
const bareEtag = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

/** Leaves out fields that are absent, so the log line carries only what the object has. */
function present<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function checksumOf(head: HeadObjectCommandOutput): ObjectChecksum | undefined {
  const checksum = present({
    type: head.ChecksumType,
    crc64nvme: head.ChecksumCRC64NVME,
    crc32: head.ChecksumCRC32,
    crc32c: head.ChecksumCRC32C,
    sha1: head.ChecksumSHA1,
    sha256: head.ChecksumSHA256,
  });
  return Object.keys(checksum).length === 0 ? undefined : checksum;
}

function summarize(event: ObjectCreatedEvent, head: HeadObjectCommandOutput): UploadSummary {
  const { detail } = event;
  const metadata = head.Metadata ?? {};
  const decoded = (name: string) => {
    const value = metadata[name];
    return value === undefined ? undefined : decodeMetadataValue(value);
  };
  const checksum = checksumOf(head);
  return {
    bucket: detail.bucket.name,
    key: detail.object.key,
    size: head.ContentLength ?? detail.object.size,
    etag: detail.object.etag,
    reason: detail.reason,
    completedAt: event.time,
    ...present({
      versionId: detail.object['version-id'],
      sessionId: metadata[BITS_METADATA.sessionId],
      principal: decoded(BITS_METADATA.principal),
      // Already in URL form (percent-encoded as sent); decoding it would change what was sent.
      originalPath: metadata[BITS_METADATA.originalPath],
      contentName: decoded(BITS_METADATA.contentName),
      createdAt: metadata[BITS_METADATA.createdAt],
    }),
    ...(checksum === undefined ? {} : { checksum }),
  };
}

/**
 * EventBridge "Object Created" (one finished BITS upload) → HeadObject → one log line. S3 events
 * carry key, size and ETag but not the object's metadata, hence the HeadObject. Returns the
 * summary, or undefined when the object is gone or was replaced since the event.
 *
 * Errors other than those propagate: Lambda retries the event twice, then the stack's
 * dead-letter queue keeps it.
 */
export function createUploadConsumer(deps: ConsumerDeps): UploadConsumer {
  const { s3, logger } = deps;
  return async (event, context) => {
    if (context !== undefined) logger.addContext(context);
    checkEvent(event);
    const { bucket, object } = event.detail;
    const where = { bucket: bucket.name, key: object.key, etag: object.etag };
    let head: HeadObjectCommandOutput;
    try {
      // ChecksumMode ENABLED: S3 returns the object's checksum only when asked. The current
      // version, not `version-id`: that would need s3:GetObjectVersion, and the ETag check below
      // catches a replaced object anyway.
      head = await s3.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: object.key, ChecksumMode: 'ENABLED' }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
      logger.warn('object deleted before it was read; nothing to do', where);
      return undefined;
    }
    // With overwrites allowed, a newer upload may have replaced the object already: its own event
    // describes it, and this object's metadata is gone.
    if (bareEtag(head.ETag) !== bareEtag(object.etag)) {
      logger.info('object replaced since this event; its own event follows', where);
      return undefined;
    }
    const summary = summarize(event, head);
    logger.info('upload finished', { ...summary });
    return summary;
  };
}
