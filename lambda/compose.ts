import { Logger } from '@aws-lambda-powertools/logger';
import type { AwsClients } from './adapters/aws-clients';
import { DynamoDbSessionStore, TTL_MARGIN_SECONDS } from './adapters/dynamodb-session-store';
import { HttpNotificationTarget } from './adapters/http-notification-target';
import {
  type InvokeFunction,
  LambdaNotificationTarget,
  sdkInvoker,
} from './adapters/lambda-notification-target';
import { S3ObjectLinks } from './adapters/s3-object-links';
import { S3UploadStore } from './adapters/s3-upload-store';
import { PartBuffers } from './assembler/part-buffers';
import { SessionCache } from './assembler/session-cache';
import { createAuthenticator } from './auth/authenticate';
import type { Config } from './config';
import type { HandlerDeps } from './handlers/types';
import { BitsMetrics } from './observability/metrics';
import { newSessionId } from './protocol/session-id';

export interface ComposeOptions {
  /**
   * Invokes BITS_NOTIFICATION_FUNCTION instead of the Lambda API: the local server runs a
   * Lambda-style function in process. Unset: the real function, through the SDK.
   */
  readonly invoke?: InvokeFunction;
}

/** The upload-reply application (config.notificationType), or none when notifications are off. */
function notificationTarget(config: Config, clients: AwsClients, options: ComposeOptions) {
  if (config.notificationType === 'none') return undefined;
  if (config.notificationUrl !== undefined) return new HttpNotificationTarget(config.notificationUrl);
  const fn = config.notificationFunction;
  if (fn === undefined) throw new Error('loadConfig lets no notification type through without a target');
  return new LambdaNotificationTarget(options.invoke ?? sdkInvoker(clients.lambda, fn));
}

/**
 * Wires the production adapters into HandlerDeps. Shared by the Lambda entry (lambda/index.ts) and
 * the local server, so both run the same code on AWS or the emulators. Metrics are always wired;
 * create-handler publishes them for Lambda invocations only (lambda/observability/README.md).
 */
export function composeDeps(
  config: Config,
  clients: AwsClients,
  logger?: Logger,
  metrics: BitsMetrics = new BitsMetrics(),
  options: ComposeOptions = {},
): HandlerDeps {
  const notifier = notificationTarget(config, clients, options);
  return {
    config,
    sessions: new DynamoDbSessionStore(clients.documents, config.tableName, {
      partTtlSeconds: config.maxSessionAgeSeconds + config.tombstoneSeconds + TTL_MARGIN_SECONDS,
    }),
    uploads: new S3UploadStore(clients.s3, config.bucketName),
    logger: logger ?? new Logger({ serviceName: 'bits-upload', logLevel: config.logLevel }),
    now: Date.now,
    newSessionId,
    metrics,
    authenticate: createAuthenticator(config),
    sessionCache: new SessionCache(),
    partBuffers: new PartBuffers(config.partBufferBytes),
    ...(notifier === undefined ? {} : { notifier, links: new S3ObjectLinks(clients.s3, config.bucketName) }),
  };
}
