import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { OWNER_INDEX } from '../../lambda/adapters/dynamodb-session-store';

export interface UploadStorageProps {
  /** Staged chunks live here; expired by a lifecycle rule. */
  readonly stagingPrefix: string;
  /** Replies of upload-reply sessions live here; expired by a lifecycle rule like staged chunks. */
  readonly replyPrefix?: string;
  /** Incomplete multipart uploads are aborted, and staged chunks expire, this many days after they start. */
  readonly lifecycleDays: number;
  /** Replies expire this many days after they are written; lifecycleDays when unset. */
  readonly replyLifecycleDays?: number;
  /** Customer-managed key for bucket and table; unset means S3-managed / AWS-owned keys. */
  readonly encryptionKey?: kms.IKey;
  readonly removalPolicy: RemovalPolicy;
  readonly deletionProtection: boolean;
  readonly versioned: boolean;
  /** Receives S3 server access logs of the upload bucket; unset turns them off. */
  readonly accessLogsBucket?: s3.IBucket;
}

/** The upload bucket (multipart uploads + staged chunks) and the session table. */
export class UploadStorage extends Construct {
  readonly bucket: s3.Bucket;
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: UploadStorageProps) {
    super(scope, id);
    const expiry = Duration.days(props.lifecycleDays);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      ...(props.encryptionKey === undefined
        ? { encryption: s3.BucketEncryption.S3_MANAGED }
        : {
            encryption: s3.BucketEncryption.KMS,
            encryptionKey: props.encryptionKey,
            bucketKeyEnabled: true,
          }),
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: props.versioned,
      removalPolicy: props.removalPolicy,
      ...(props.accessLogsBucket === undefined
        ? {}
        : { serverAccessLogsBucket: props.accessLogsBucket, serverAccessLogsPrefix: 'uploads-bucket/' }),
      lifecycleRules: [
        {
          // Safety net for sessions that were never closed or cancelled (design.md "Expiry").
          id: 'abort-incomplete-multipart-uploads',
          abortIncompleteMultipartUploadAfter: expiry,
        },
        {
          // Staged chunks of dead sessions; live ones are deleted by the function once flushed.
          id: 'expire-staged-chunks',
          prefix: props.stagingPrefix,
          expiration: expiry,
          ...(props.versioned ? { noncurrentVersionExpiration: Duration.days(1) } : {}),
        },
        ...(props.replyPrefix === undefined
          ? []
          : [
              {
                // Backstop for replies Close, Cancel or the sweeper never deleted. A reply is written
                // after its upload completed, and its session then lives a session timeout at most,
                // which replyLifecycleDays outlasts, so a live one is never hit.
                // Always on: replies can outlast a switch of notificationType back to none.
                id: 'expire-replies',
                prefix: props.replyPrefix,
                expiration: Duration.days(props.replyLifecycleDays ?? props.lifecycleDays),
                ...(props.versioned ? { noncurrentVersionExpiration: Duration.days(1) } : {}),
              },
            ]),
      ],
    });
    // Consumers learn of finished uploads from EventBridge "Object Created" events (platform.md §3).
    // Set on the bucket resource itself: the `eventBridgeEnabled` prop would add a custom-resource
    // Lambda (with a managed-policy role) just to make the same API call.
    (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    if (props.accessLogsBucket === undefined) {
      Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Server access logs are turned off by configuration (accessLogs=false); the function logs every request it serves.',
      });
    }

    this.table = new dynamodb.TableV2(this, 'Sessions', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      // Removes expired sessions lazily; every read also checks expiresAt (platform.md §4).
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection,
      encryption:
        props.encryptionKey === undefined
          ? dynamodb.TableEncryptionV2.dynamoOwnedKey()
          : dynamodb.TableEncryptionV2.customerManagedKey(props.encryptionKey),
      removalPolicy: props.removalPolicy,
      // Open sessions per principal (BITS_MAX_SESSIONS_PER_PRINCIPAL). Always present, so turning
      // the limit on needs no index build; sparse, because only session records carry an owner.
      globalSecondaryIndexes: [
        {
          indexName: OWNER_INDEX.name,
          partitionKey: { name: OWNER_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: OWNER_INDEX.sortKey, type: dynamodb.AttributeType.NUMBER },
          projectionType: dynamodb.ProjectionType.INCLUDE,
          nonKeyAttributes: [...OWNER_INDEX.projected],
        },
      ],
    });
  }
}

export interface AccessLogsBucketProps {
  /** Log objects expire after this many days; unset keeps them. */
  readonly retentionDays?: number;
  readonly removalPolicy: RemovalPolicy;
}

/** Destination of S3 server access logs (and ALB access logs); S3-managed encryption, as log delivery requires. */
export class AccessLogsBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogsBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy,
      lifecycleRules:
        props.retentionDays === undefined
          ? []
          : [{ id: 'expire-logs', expiration: Duration.days(props.retentionDays) }],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the access-log destination; logging it into itself would log its own log writes.',
    });
  }
}
