import { Logger } from '@aws-lambda-powertools/logger';
import type { AwsClients } from './adapters/aws-clients';
import { DynamoDbSessionStore, TTL_MARGIN_SECONDS } from './adapters/dynamodb-session-store';
import { S3UploadStore } from './adapters/s3-upload-store';
import { createAuthenticator } from './auth/authenticate';
import type { Config } from './config';
import type { HandlerDeps } from './handlers/types';
import { BitsMetrics } from './observability/metrics';
import { newSessionId } from './protocol/session-id';

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
): HandlerDeps {
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
  };
}
