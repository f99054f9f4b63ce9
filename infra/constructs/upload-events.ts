import { type CfnResource, Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { functionCode, ownLogsAndRole } from './function-parts';

/**
 * How a finished upload appears in S3 (README "S3 events and object metadata"): its multipart
 * upload is completed, except for a 0-byte file, which has no part and is written with one
 * PutObject (lambda/handlers/complete-upload.ts).
 */
export const UPLOAD_EVENT_REASONS = ['CompleteMultipartUpload', 'PutObject'] as const;

/**
 * The event pattern of finished uploads: S3 "Object Created" events of this bucket under the key
 * prefix. Staged chunks live under their own prefix, which never overlaps the key prefix, so
 * their PutObject events never match.
 */
export function uploadEventPattern(bucketName: string, keyPrefix: string): events.EventPattern {
  return {
    source: ['aws.s3'],
    detailType: ['Object Created'],
    detail: {
      bucket: { name: [bucketName] },
      object: { key: [{ prefix: keyPrefix }] },
      reason: [...UPLOAD_EVENT_REASONS],
    },
  };
}

export interface ExampleConsumerOptions {
  /** Prebuilt code (tests pass a stub); unset means esbuild bundles consumers/example/index.ts. */
  readonly code?: lambda.Code;
}

export interface UploadEventsProps {
  readonly bucket: s3.IBucket;
  readonly keyPrefix: string;
  /** Customer-managed key of the bucket, if any: the consumer needs it to read checksums and data. */
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Deploy the example consumer as the rule's target; unset leaves the rule without targets. */
  readonly exampleConsumer?: ExampleConsumerOptions;
}

/** The example consumer: its function, role, log group and the queue of events it failed on. */
export interface ExampleConsumer {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly deadLetterQueue: sqs.Queue;
}

/**
 * The EventBridge rule for finished uploads and, optionally, the example consumer
 * (consumers/example/) as its target. The rule exists either way: it is the documented contract,
 * costs nothing without targets, and code users add their own with `rule.addTarget(...)`.
 */
export class UploadEvents extends Construct {
  readonly rule: events.Rule;
  readonly consumer: ExampleConsumer | undefined;

  constructor(scope: Construct, id: string, props: UploadEventsProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'ObjectCreated', {
      description: `Finished BITS uploads: S3 Object Created under ${props.keyPrefix}`,
      eventPattern: uploadEventPattern(props.bucket.bucketName, props.keyPrefix),
    });
    this.consumer =
      props.exampleConsumer === undefined ? undefined : this.createConsumer(props, props.exampleConsumer);
  }

  private createConsumer(props: UploadEventsProps, options: ExampleConsumerOptions): ExampleConsumer {
    const { logGroup, role } = ownLogsAndRole(this, {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      description: 'BITS upload example consumer (read-only on the upload prefix)',
      ids: { logs: 'ConsumerLogs', role: 'ConsumerRole' },
    });

    // Events neither EventBridge could deliver nor the function could handle (after Lambda's two
    // retries) end up here, for an operator to inspect and replay. 14 days is SQS's maximum.
    const deadLetterQueue = new sqs.Queue(this, 'ConsumerDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the upload-event rule target and of the consumer function; nothing consumes it automatically.',
    });

    const fn = new nodejs.NodejsFunction(this, 'Consumer', {
      description: 'BITS upload example consumer: logs each finished upload with its metadata',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // One HeadObject and one log line; 256 MB keeps cold starts of the SDK short.
      memorySize: 256,
      timeout: Duration.seconds(30),
      role,
      logGroup,
      ...functionCode(['consumers', 'example', 'index.ts'], options.code),
      environment: {
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      },
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SqsDestination(deadLetterQueue),
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is pinned by the design (the bundle targets node22); moving to a newer Node runtime is a separate, tested upgrade.',
    });

    this.rule.addTarget(
      new targets.LambdaFunction(fn, {
        deadLetterQueue,
        // EventBridge's own defaults, stated: delivery is retried for a day before the queue gets it.
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
      }),
    );
    this.grantRead(role, props);
    return { function: fn, role, logGroup, deadLetterQueue };
  }

  /**
   * HeadObject (s3:GetObject) on finished uploads only: no write, no delete, no other prefix, no
   * listing. The template's users read the object body with the same grant.
   */
  private grantRead(role: iam.Role, props: UploadEventsProps): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadUploads',
        actions: ['s3:GetObject'],
        resources: [props.bucket.arnForObjects(`${props.keyPrefix}*`)],
      }),
    );
    if (props.encryptionKey !== undefined) {
      // SSE-KMS: S3 returns an object's checksum only to callers that may decrypt it, and reading
      // the body decrypts. Only through S3 in this region.
      const stack = Stack.of(this);
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DecryptUploads',
          actions: ['kms:Decrypt'],
          resources: [props.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.${stack.urlSuffix}` } },
        }),
      );
    }
    const bucketId = Stack.of(this).resolve((props.bucket.node.defaultChild as CfnResource).logicalId);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${props.keyPrefix}*]`,
      reason:
        'Read-only on finished uploads under the key prefix: their keys come from client paths and are only known from each event.',
    });
  }
}
