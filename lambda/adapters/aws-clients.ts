import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface AwsClientOptions {
  /**
   * Attempts per request, first try included, under the SDK's `standard` retry mode (exponential
   * backoff with jitter and a retry quota). All retrying happens there; adapters never loop.
   */
  readonly maxAttempts?: number;
  /** Unset on Lambda, where the runtime provides region and credentials. */
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Emulator endpoints (local server, tests); unset means the real AWS endpoints. */
  readonly s3Endpoint?: string;
  readonly dynamoEndpoint?: string;
  /**
   * Applied to every client as it is built: Powertools Tracer's `captureAWSv3Client` when tracing is
   * on (lambda/observability/tracing.ts). The document client shares the DynamoDB client's
   * middleware, so capturing that one covers both.
   */
  readonly capture?: <T>(client: T) => T;
}

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  /** Invokes the upload-reply notification function (BITS_NOTIFICATION_FUNCTION); idle otherwise. */
  readonly lambda: LambdaClient;
}

/** The SDK's own default: one try and two retries. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** Builds the SDK clients; call once per process so connections are reused across invocations. */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const common = {
    retryMode: 'standard',
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
  };
  const capture = options.capture ?? (<T>(client: T) => client);
  const s3 = capture(
    new S3Client({
      ...common,
      // Emulators serve buckets under the path, not as virtual hosts.
      ...(options.s3Endpoint === undefined ? {} : { endpoint: options.s3Endpoint, forcePathStyle: true }),
    }),
  );
  const dynamo = capture(
    new DynamoDBClient({
      ...common,
      ...(options.dynamoEndpoint === undefined ? {} : { endpoint: options.dynamoEndpoint }),
    }),
  );
  const documents = DynamoDBDocumentClient.from(dynamo, {
    // Optional session fields are absent, not null; undefined inside nested values is dropped too.
    marshallOptions: { removeUndefinedValues: true },
  });
  // The application's answer is awaited within the notification timeout: a retry would call it twice.
  const lambda = capture(new LambdaClient({ ...common, maxAttempts: 1 }));
  return { s3, dynamo, documents, lambda };
}
