import { type CfnResource, Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { OWNER_INDEX } from '../../lambda/adapters/dynamodb-session-store';
import { CONFIG_ENV } from '../../lambda/config';
import { TRACING_ENV } from '../../lambda/observability/tracing';
import { FUNCTION_TIMEOUT_SECONDS } from '../settings';
import { functionCode, ownLogsAndRole } from './function-parts';

export interface BitsFunctionProps {
  readonly table: dynamodb.ITableV2;
  readonly bucket: s3.IBucket;
  /** Customer-managed key of the bucket and the table, if any. */
  readonly encryptionKey?: kms.IKey;
  readonly keyPrefix: string;
  readonly stagingPrefix: string;
  /** CONFIG_ENV values other than table and bucket names. */
  readonly environment: Readonly<Record<string, string>>;
  readonly memorySize: number;
  readonly reservedConcurrency?: number;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly tracing: boolean;
  /** Prebuilt code (tests pass a stub); unset means esbuild bundles lambda/index.ts. */
  readonly code?: lambda.Code;
  /** The SSM SecureString parameter of Basic users (authMode basic), and its customer-managed key if any. */
  readonly authParameter?: { readonly name: string; readonly keyArn: string | undefined };
  /**
   * Upload-reply, when notifications are on: replies live under `replyPrefix`, and an application
   * that is a Lambda function (`functionArn`) is invoked by this function. Unset: no grant for either.
   */
  readonly notifications?: { readonly replyPrefix: string; readonly functionArn: string | undefined };
}

/** The BITS handler with its log group and a role holding only what the adapters call. */
export class BitsFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BitsFunctionProps) {
    super(scope, id);

    ({ logGroup: this.logGroup, role: this.role } = ownLogsAndRole(this, {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      description: 'BITS upload handler',
    }));

    this.function = new nodejs.NodejsFunction(this, 'Handler', {
      description: 'BITS upload server',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // One part (8 MiB by default) + one fragment + SDK buffers fit easily; more memory also means more CPU.
      memorySize: props.memorySize,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS),
      ...(props.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      ...functionCode(['lambda', 'index.ts'], props.code),
      environment: {
        [CONFIG_ENV.tableName]: props.table.tableName,
        [CONFIG_ENV.bucketName]: props.bucket.bucketName,
        ...props.environment,
        // Powertools Tracer captures the SDK clients only with this set (lambda/observability/tracing.ts).
        ...(props.tracing ? { [TRACING_ENV]: 'true' } : {}),
        NODE_OPTIONS: '--enable-source-maps',
      },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is pinned by the design (the bundle targets node22); moving to a newer Node runtime is a separate, tested upgrade.',
    });

    this.grantTableAccess(props);
    if (props.encryptionKey !== undefined) {
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason:
            "Added by the DynamoDB table grant for its customer-managed key; limited to that one key, which only encrypts this stack's bucket and table.",
        });
      }
    }
    this.grantBucketAccess(props);
    if (props.authParameter !== undefined) this.grantAuthParameter(props.authParameter);
    if (props.notifications !== undefined) this.grantNotifications(props, props.notifications);

    if (props.tracing) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
      });
    }
  }

  /**
   * Item reads and writes on the table itself, through a reference that knows of no index: the
   * table's own grant would add `<table>/index/*` for every action. The one index read, the
   * per-principal session count, gets Query on that index alone. With a customer-managed key CDK's
   * table grant also grants the key's data-key actions.
   */
  private grantTableAccess(props: BitsFunctionProps): void {
    const table = dynamodb.TableV2.fromTableAttributes(this, 'SessionTable', {
      tableArn: props.table.tableArn,
      ...(props.encryptionKey === undefined ? {} : { encryptionKey: props.encryptionKey }),
      grantIndexPermissions: false,
    });
    table.grantReadWriteData(this.role);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CountOpenSessions',
        actions: ['dynamodb:Query'],
        resources: [`${props.table.tableArn}/index/${OWNER_INDEX.name}`],
      }),
    );
  }

  /**
   * Basic users: GetParameter (what Powertools' SSMProvider calls with decryption) on exactly that
   * parameter. With the AWS managed key aws/ssm the key policy already lets SSM decrypt for callers
   * allowed to read the parameter; a customer-managed key also needs kms:Decrypt, granted only
   * through SSM and only for this parameter's encryption context.
   */
  private grantAuthParameter(parameter: {
    readonly name: string;
    readonly keyArn: string | undefined;
  }): void {
    const stack = Stack.of(this);
    const parameterArn = stack.formatArn({
      service: 'ssm',
      resource: 'parameter',
      // The ARN of `/bits/users` is `…:parameter/bits/users`; of `bits-users`, `…:parameter/bits-users`.
      resourceName: parameter.name.replace(/^\//, ''),
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadAuthParameter',
        actions: ['ssm:GetParameter'],
        resources: [parameterArn],
      }),
    );
    if (parameter.keyArn !== undefined) {
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DecryptAuthParameter',
          actions: ['kms:Decrypt'],
          resources: [parameter.keyArn],
          conditions: {
            StringEquals: {
              'kms:ViaService': `ssm.${stack.region}.${stack.urlSuffix}`,
              'kms:EncryptionContext:PARAMETER_ARN': parameterArn,
            },
          },
        }),
      );
    }
  }

  /** Upload-reply: the reply objects, and the application when it is a Lambda function. */
  private grantNotifications(
    props: BitsFunctionProps,
    notifications: NonNullable<BitsFunctionProps['notifications']>,
  ): void {
    // Reads the reply a by-reference application wrote (GetObject, through a presigned PUT the
    // function signs: a presigned URL carries the signer's rights), writes the copy it serves and
    // reads its ETag (PutObject; HeadObject is s3:GetObject), streams it to GET/HEAD, and deletes a
    // session's reply folder at Close, Cancel or before a new attempt (DeleteObjects checks
    // s3:DeleteObject per key; the listing is the ListBucket grant below). The presigned GET of the
    // upload itself is covered by WriteDestinationObjects' s3:GetObject.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ServeReplies',
        actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
        resources: [props.bucket.arnForObjects(`${notifications.replyPrefix}*`)],
      }),
    );
    const bucketId = Stack.of(this).resolve((props.bucket.node.defaultChild as CfnResource).logicalId);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${notifications.replyPrefix}*]`,
      reason:
        'Replies under one prefix: each lives in its session id folder, so the keys cannot be listed in advance.',
    });
    if (notifications.functionArn !== undefined) {
      // Exactly the configured ARN: a qualified ARN (version or alias) is granted as given.
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'NotifyApplication',
          actions: ['lambda:InvokeFunction'],
          resources: [notifications.functionArn],
        }),
      );
    }
  }

  /**
   * The S3 calls of the upload adapter, each on the narrowest resource:
   * destination keys: CreateMultipartUpload / UploadPart / Complete / PutObject (s3:PutObject),
   * HeadObject (s3:GetObject), AbortMultipartUpload; staged chunks: Put, Get, DeleteObjects
   * (s3:DeleteObject per key). Nothing deletes a destination object.
   */
  private grantBucketAccess(props: BitsFunctionProps): void {
    const { bucket } = props;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteDestinationObjects',
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: [bucket.arnForObjects(`${props.keyPrefix}*`)],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'StageChunks',
        actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
        resources: [bucket.arnForObjects(`${props.stagingPrefix}*`)],
      }),
    );
    // ListObjectsV2 of a session's staging folder and, with upload-reply, of its reply folder
    // (Cancel/Close cleanup). ListBucket has a second
    // use: without it S3 answers HeadObject of a missing key with 403 instead of 404, and
    // Create-Session relies on that 404 to refuse overwrites. Whether S3 applies an
    // `s3:prefix` condition to that implicit check is not documented, so the grant is unconditioned,
    // on this bucket only.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListBucket',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
      }),
    );
    if (props.encryptionKey !== undefined) {
      // SSE-KMS: writes need a data key; reads and multipart uploads decrypt it.
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'UseBucketKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.encryptionKey.keyArn],
        }),
      );
    }
    const stack = Stack.of(this);
    const bucketArn = `<${stack.resolve((bucket.node.defaultChild as CfnResource).logicalId)}.Arn>`;
    for (const prefix of [props.keyPrefix, props.stagingPrefix]) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${prefix}*]`,
        reason:
          'Objects under one prefix: the function writes keys it derives from request paths (destinations) and session ids (staged chunks), so they cannot be listed in advance.',
      });
    }
  }
}
