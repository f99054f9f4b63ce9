import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { type AwsClientOptions, type AwsClients, createAwsClients } from '../lambda/adapters/aws-clients';
import { inProcessInvoker, type LambdaStyleFunction } from '../lambda/adapters/lambda-notification-target';
import { composeDeps } from '../lambda/compose';
import { type Config, FUNCTION_TIMEOUT_SECONDS } from '../lambda/config';
import { createHandler } from '../lambda/create-handler';
import { type Emulators, startEmulators } from './emulators';
import { type FrontRequest, startHttpFront } from './http/server';
import { fromLambdaResult, toHttpApiEvent } from './http/to-event';
import { youngCollection } from './http/young-collection';
import { ensureBucket, ensureTable } from './provision';

/** Credentials the emulators accept (they check none). */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
export const EMULATOR_REGION = 'us-east-1';
/** Dead request bodies, or requests, the server lets pile up before it collects them (local/http/young-collection.ts). */
const COLLECT_EVERY_BYTES = 1024 * 1024;
const COLLECT_EVERY_REQUESTS = 4;

export interface LocalServerOptions {
  readonly config: Config;
  readonly host?: string;
  readonly port?: number;
  /** Persist DynamoDB Local's data here (fauxqs keeps S3 in memory). */
  readonly dataDir?: string;
  /** Use these running endpoints instead of starting emulators (tests). */
  readonly endpoints?: { readonly s3Endpoint: string; readonly dynamoEndpoint: string };
  /** Use real AWS (standard credential chain) instead of emulators; table and bucket must exist. */
  readonly aws?: boolean;
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly logger?: Logger;
  /** Called with the SDK clients before the first request, e.g. to add counting middleware. */
  readonly onClients?: (clients: AwsClients) => void;
  /**
   * Upload-reply with BITS_NOTIFICATION_FUNCTION: run this Lambda-style function in process
   * instead of invoking a deployed one (local notification target for tests and demos).
   */
  readonly notificationFunction?: LambdaStyleFunction;
}

export interface LocalServer {
  readonly url: string;
  readonly port: number;
  /** Emulator endpoints, when running on emulators. */
  readonly endpoints?: { readonly s3Endpoint: string; readonly dynamoEndpoint: string };
  stop(): Promise<void>;
}

/** Creates the table and bucket on the emulators with the same code path for every user. */
async function provision(config: Config, clientOptions: AwsClientOptions): Promise<void> {
  const common = { region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS };
  const dynamo = new DynamoDBClient({ ...common, endpoint: clientOptions.dynamoEndpoint });
  const s3 = new S3Client({ ...common, endpoint: clientOptions.s3Endpoint, forcePathStyle: true });
  try {
    await Promise.all([ensureTable(dynamo, config.tableName), ensureBucket(s3, config.bucketName)]);
  } finally {
    dynamo.destroy();
    s3.destroy();
  }
}

/**
 * The scheme the client used, as API Gateway and the ALB tell the function (X-Forwarded-Proto): the
 * upload-reply application sees the client's URL (BITS-Original-Request-URL) and reply downloads
 * their own (Content-Location).
 */
function withForwardedProto(request: FrontRequest, scheme: 'http' | 'https'): FrontRequest {
  const headers: Record<string, string> = Object.assign(Object.create(null), request.headers);
  headers['x-forwarded-proto'] = scheme;
  return { ...request, headers };
}

/**
 * The local BITS endpoint: emulators (or AWS), the production handler and adapters, behind the
 * HTTP/1.1 front that accepts BITS_POST. Each request becomes an HTTP API payload 2.0 event.
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const { config } = options;
  let emulators: Emulators | undefined;
  let endpoints = options.endpoints;
  if (!options.aws && endpoints === undefined) {
    emulators = await startEmulators(options.dataDir === undefined ? {} : { dataDir: options.dataDir });
    endpoints = emulators;
  }
  try {
    const clientOptions: AwsClientOptions = endpoints
      ? { ...endpoints, region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS }
      : {};
    if (endpoints) await provision(config, clientOptions);
    const clients = createAwsClients(clientOptions);
    options.onClients?.(clients);
    const invoke =
      options.notificationFunction === undefined ? undefined : inProcessInvoker(options.notificationFunction);
    const deps = composeDeps(
      config,
      clients,
      options.logger,
      undefined,
      invoke === undefined ? {} : { invoke },
    );
    // No Lambda context here: each request gets the function's timeout, as it would on AWS.
    const handler = createHandler({ ...deps, requestBudgetMs: FUNCTION_TIMEOUT_SECONDS * 1000 });
    const scheme = options.tls ? 'https' : 'http';
    const front = await startHttpFront({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      maxBodyBytes: config.maxFragmentSize,
      onAnswered: youngCollection(COLLECT_EVERY_BYTES, COLLECT_EVERY_REQUESTS),
      ...(options.tls ? { tls: options.tls } : {}),
      onRequest: async (request) =>
        fromLambdaResult(
          (await handler(
            toHttpApiEvent(withForwardedProto(request, scheme), new Date(), true),
          )) as APIGatewayProxyResultV2,
        ),
    });
    return {
      url: front.url,
      port: front.port,
      ...(endpoints
        ? { endpoints: { s3Endpoint: endpoints.s3Endpoint, dynamoEndpoint: endpoints.dynamoEndpoint } }
        : {}),
      async stop() {
        await front.close();
        await emulators?.stop();
      },
    };
  } catch (error) {
    await emulators?.stop();
    throw error;
  }
}
