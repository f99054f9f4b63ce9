import { Annotations, CfnOutput, Duration, Stack, type StackProps, Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { AlbFront } from './constructs/alb-front';
import { BitsFunction } from './constructs/bits-function';
import { CleanupSweeper } from './constructs/cleanup-sweeper';
import { HttpApiFront } from './constructs/http-api-front';
import { Monitoring } from './constructs/monitoring';
import { UploadEvents } from './constructs/upload-events';
import { AccessLogsBucket, UploadStorage } from './constructs/upload-storage';
import {
  type BitsUploadSettings,
  type ResolvedSettings,
  resolveSettings,
  SettingsError,
  settingsFromContext,
} from './settings';

/** Ids of the synthesis warnings about auth modes (`Annotations.of(stack).acknowledgeWarning(id)`). */
export const AUTH_WARNINGS = ['bits-upload:auth-none', 'bits-upload:auth-upstream'] as const;

export interface BitsUploadStackProps extends StackProps, BitsUploadSettings {
  /** ALB front only: put the load balancer in this VPC (public subnets) instead of a new one. */
  readonly vpc?: ec2.IVpc;
  /** Prebuilt function code; unset bundles lambda/index.ts with the local esbuild. */
  readonly functionCode?: lambda.Code;
  /** Prebuilt sweeper code; unset bundles lambda/cleanup/index.ts with the local esbuild. */
  readonly sweeperCode?: lambda.Code;
  /** Prebuilt code of the example consumer; unset bundles consumers/example/index.ts. */
  readonly exampleConsumerCode?: lambda.Code;
}

/**
 * The BITS upload server: a front (HTTP API or ALB) → one function → sessions in DynamoDB, file
 * data in S3 multipart uploads. Settings come from props, then context (`-c key=value`), then defaults.
 */
export class BitsUploadStack extends Stack {
  readonly settings: ResolvedSettings;
  readonly storage: UploadStorage;
  readonly handler: BitsFunction;
  readonly front: HttpApiFront | AlbFront;
  /** The abandoned-session sweeper (lambda/cleanup/README.md). */
  readonly sweeper: CleanupSweeper;
  /** Dashboard, alarms and the optional alarm topic (README "Operations"). */
  readonly monitoring: Monitoring;
  /** The finished-upload rule and the example consumer (README "S3 events and object metadata"). */
  readonly uploadEvents: UploadEvents;

  constructor(scope: Construct, id: string, props: BitsUploadStackProps = {}) {
    super(scope, id, props);
    const settings = resolveSettings(props, settingsFromContext(this.node));
    this.settings = settings;
    const { config } = settings;

    if (settings.kms && Token.isUnresolved(this.region)) {
      // TableV2 renders the key per replica region, which needs the region at synthesis.
      throw new SettingsError('kms=true needs a stack region: set CDK_DEFAULT_REGION or the stack env');
    }
    const encryptionKey = settings.kms
      ? new kms.Key(this, 'Key', {
          description: 'BITS upload bucket and session table',
          enableKeyRotation: true,
          removalPolicy: settings.removalPolicy,
          pendingWindow: Duration.days(30),
        })
      : undefined;
    const accessLogsBucket = settings.accessLogs
      ? new AccessLogsBucket(this, 'AccessLogs', {
          ...(settings.logRetention === logs.RetentionDays.INFINITE
            ? {}
            : { retentionDays: settings.logRetention }),
          removalPolicy: settings.removalPolicy,
        }).bucket
      : undefined;

    this.storage = new UploadStorage(this, 'Storage', {
      stagingPrefix: config.stagingPrefix,
      replyPrefix: config.replyPrefix,
      lifecycleDays: settings.lifecycleDays,
      replyLifecycleDays: settings.replyLifecycleDays,
      removalPolicy: settings.removalPolicy,
      deletionProtection: settings.deletionProtection,
      versioned: settings.versioned,
      ...(encryptionKey === undefined ? {} : { encryptionKey }),
      ...(accessLogsBucket === undefined ? {} : { accessLogsBucket }),
    });

    this.handler = new BitsFunction(this, 'Function', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      ...(encryptionKey === undefined ? {} : { encryptionKey }),
      keyPrefix: config.keyPrefix,
      stagingPrefix: config.stagingPrefix,
      environment: settings.functionEnvironment,
      memorySize: settings.memorySize,
      ...(settings.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrency: settings.reservedConcurrency }),
      logRetention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
      tracing: settings.tracing,
      ...(props.functionCode === undefined ? {} : { code: props.functionCode }),
      ...(settings.authParameter === undefined ? {} : { authParameter: settings.authParameter }),
      ...(config.notificationType === 'none'
        ? {}
        : {
            notifications: { replyPrefix: config.replyPrefix, functionArn: config.notificationFunction },
          }),
    });

    this.uploadEvents = new UploadEvents(this, 'UploadEvents', {
      bucket: this.storage.bucket,
      keyPrefix: config.keyPrefix,
      logRetention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
      ...(encryptionKey === undefined ? {} : { encryptionKey }),
      ...(settings.exampleConsumer
        ? {
            exampleConsumer:
              props.exampleConsumerCode === undefined ? {} : { code: props.exampleConsumerCode },
          }
        : {}),
    });

    const common = {
      handler: this.handler.function,
      logRetention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
      ...(settings.customDomain === undefined ? {} : { customDomain: settings.customDomain }),
    };
    this.front =
      settings.front === 'alb'
        ? new AlbFront(this, 'Alb', {
            ...common,
            ...(props.vpc === undefined ? {} : { vpc: props.vpc }),
            ...(accessLogsBucket === undefined ? {} : { accessLogsBucket }),
            replyDownloads: config.notificationType !== 'none',
          })
        : new HttpApiFront(this, 'HttpApi', {
            ...common,
            throttle: settings.throttle,
            authMode: config.authMode,
          });
    this.warnAboutAuth(settings);

    this.sweeper = new CleanupSweeper(this, 'Sweeper', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      ...(encryptionKey === undefined ? {} : { encryptionKey }),
      keyPrefix: config.keyPrefix,
      stagingPrefix: config.stagingPrefix,
      replyPrefix: config.replyPrefix,
      environment: settings.functionEnvironment,
      sweeperEnvironment: settings.sweeper.environment,
      interval: Duration.minutes(settings.sweeper.intervalMinutes),
      logRetention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
      tracing: settings.tracing,
      ...(props.sweeperCode === undefined ? {} : { code: props.sweeperCode }),
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      handler: this.handler.function,
      sweeper: this.sweeper.function,
      table: this.storage.table,
      front: this.front,
      sweepInterval: Duration.minutes(settings.sweeper.intervalMinutes),
      front5xxPercent: settings.alarms.front5xxPercent,
      ...(settings.alarms.topicArn === undefined ? {} : { alarmTopicArn: settings.alarms.topicArn }),
      ...(settings.alarms.email === undefined ? {} : { alarmEmail: settings.alarms.email }),
    });

    new CfnOutput(this, 'UploadUrl', {
      description: 'BITS upload URL: append the destination path',
      value: this.front.url,
    });
    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: this.storage.table.tableName });
    new CfnOutput(this, 'Front', { description: 'http-api or alb', value: settings.front });
    new CfnOutput(this, 'AuthMode', { description: 'none, basic or upstream', value: config.authMode });
    new CfnOutput(this, 'SweeperFunctionName', {
      description: 'The abandoned-session sweeper; its log group holds one "sweep done" line per run',
      value: this.sweeper.function.functionName,
    });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    if (this.monitoring.topic !== undefined) {
      new CfnOutput(this, 'AlarmTopicArn', {
        description: 'Every alarm notifies this topic on ALARM and OK',
        value: this.monitoring.topic.topicArn,
      });
    }
    if (this.front.dnsTarget !== undefined && settings.customDomain !== undefined) {
      new CfnOutput(this, 'DnsTarget', {
        description: `Point ${settings.customDomain.domainName} here (CNAME or alias)`,
        value: this.front.dnsTarget,
      });
    }
  }

  /** Synthesis warnings for the modes that leave a gap only the deployer can close (README "Security"). */
  private warnAboutAuth(settings: ResolvedSettings): void {
    const { authMode } = settings.config;
    if (authMode === 'none') {
      Annotations.of(this).addWarningV2(
        AUTH_WARNINGS[0],
        'authMode=none: anyone who can reach the endpoint can upload. Use authMode=basic or upstream, or put another control in front.',
      );
    } else if (authMode === 'upstream') {
      Annotations.of(this).addWarningV2(
        AUTH_WARNINGS[1],
        settings.front === 'alb'
          ? 'authMode=upstream: configure mutual TLS (verify mode) on the HTTPS listener; without it every request is refused with 401.'
          : 'authMode=upstream: attach an authorizer to both routes ($default and BITS_POST /{proxy+}); without it every request is refused with 401.',
      );
    }
  }
}
