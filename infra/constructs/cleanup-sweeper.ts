import { type CfnResource, Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CONFIG_ENV } from '../../lambda/config';
import { TRACING_ENV } from '../../lambda/observability/tracing';
import { functionCode, ownLogsAndRole } from './function-parts';

/** The run stops itself 15 s before this (sweeper.ts reserveMs); the next run carries on. */
export const SWEEPER_TIMEOUT = Duration.minutes(5);
/** No fragment bodies and one Scan page in memory. */
export const SWEEPER_MEMORY_MB = 256;

export interface CleanupSweeperProps {
  readonly table: dynamodb.ITableV2;
  readonly bucket: s3.IBucket;
  /** Customer-managed key of the bucket and the table, if any. */
  readonly encryptionKey?: kms.IKey;
  readonly keyPrefix: string;
  readonly stagingPrefix: string;
  /** Replies to uploads, which a discarded session's cleanup deletes. */
  readonly replyPrefix: string;
  /** The BITS function's CONFIG_ENV values (table and bucket names excluded): the sweeper loads the same Config. */
  readonly environment: Readonly<Record<string, string>>;
  /** The sweeper's own variables (BITS_SWEEP_*). */
  readonly sweeperEnvironment: Readonly<Record<string, string>>;
  /** Time between runs: the last term of how long abandoned storage lingers. */
  readonly interval: Duration;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly tracing: boolean;
  /** Prebuilt code (tests pass a stub); unset means esbuild bundles lambda/cleanup/index.ts. */
  readonly code?: lambda.Code;
}

/**
 * The abandoned-session sweeper (lambda/cleanup/README.md): a function run on an EventBridge
 * schedule, with its own log group and a role holding only the calls a sweep makes.
 */
export class CleanupSweeper extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: CleanupSweeperProps) {
    super(scope, id);

    ({ logGroup: this.logGroup, role: this.role } = ownLogsAndRole(this, {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      description: 'BITS abandoned-session sweeper',
    }));

    this.function = new nodejs.NodejsFunction(this, 'Handler', {
      description: 'BITS abandoned-session sweeper',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: SWEEPER_MEMORY_MB,
      timeout: SWEEPER_TIMEOUT,
      // Overlapping runs are harmless but do the same work twice.
      reservedConcurrentExecutions: 1,
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      ...functionCode(['lambda', 'cleanup', 'index.ts'], props.code),
      environment: {
        [CONFIG_ENV.tableName]: props.table.tableName,
        [CONFIG_ENV.bucketName]: props.bucket.bucketName,
        ...props.environment,
        ...props.sweeperEnvironment,
        ...(props.tracing ? { [TRACING_ENV]: 'true' } : {}),
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    // Retries add nothing the next scheduled run does not do.
    this.function.configureAsyncInvoke({ retryAttempts: 0 });
    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'Runs the BITS abandoned-session sweeper',
      schedule: events.Schedule.rate(props.interval),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is pinned by the design (the bundle targets node22); moving to a newer Node runtime is a separate, tested upgrade.',
    });
    this.grantTableAccess(props);
    this.grantBucketAccess(props);
    if (props.encryptionKey !== undefined) this.grantKeyUse(props.encryptionKey);
    if (props.tracing) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
      });
    }
  }

  /**
   * Scan for candidates, consistent GetItem of each, Query of part items, UpdateItem of the state,
   * BatchWriteItem of part deletes, DeleteItem of expired tombstones: on the table, never an index.
   */
  private grantTableAccess(props: CleanupSweeperProps): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SweepSessionTable',
        actions: [
          'dynamodb:Scan',
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:UpdateItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:DeleteItem',
        ],
        resources: [props.table.tableArn],
      }),
    );
  }

  /**
   * Destination keys: AbortMultipartUpload, and HeadObject (s3:GetObject) to tell whether a closing
   * session's Complete went through. Staged chunks and replies: DeleteObject (DeleteObjects checks
   * it per key). ListBucket, unconditioned like the function's: it lists a session's staging
   * folder and its reply folder (every attempt's objects), and without it S3 answers HeadObject of
   * a missing key with 403 instead of 404.
   */
  private grantBucketAccess(props: CleanupSweeperProps): void {
    const { bucket } = props;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReleaseUploads',
        actions: ['s3:AbortMultipartUpload', 's3:GetObject'],
        resources: [bucket.arnForObjects(`${props.keyPrefix}*`)],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeleteSessionObjects',
        actions: ['s3:DeleteObject'],
        resources: [
          bucket.arnForObjects(`${props.stagingPrefix}*`),
          bucket.arnForObjects(`${props.replyPrefix}*`),
        ],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListBucket',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
      }),
    );
    const bucketArn = `<${Stack.of(this).resolve((bucket.node.defaultChild as CfnResource).logicalId)}.Arn>`;
    for (const prefix of [props.keyPrefix, props.stagingPrefix, props.replyPrefix]) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${prefix}*]`,
        reason:
          'Objects under one prefix: the sweeper releases keys named by session records (destinations, staged chunks and replies of any session), so they cannot be listed in advance.',
      });
    }
  }

  /**
   * The stack's customer-managed key: DynamoDB uses it on the caller's behalf for every item read
   * and write, with the key actions DynamoDB's key policy lists for callers (the set CDK's table
   * read-write grant gives the BITS function); S3 decrypts with it for HeadObject.
   */
  private grantKeyUse(key: kms.IKey): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'UseStackKey',
        actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
        resources: [key.keyArn],
      }),
    );
    for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason:
          "The key actions DynamoDB needs from a caller of a table under a customer-managed key (as CDK's table grant gives them); limited to that one key, which only encrypts this stack's bucket and table.",
      });
    }
  }
}
