import { randomUUID } from 'node:crypto';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { type AwsClients, createAwsClients } from '../../lambda/adapters/aws-clients';
import { ensureBucket, ensureTable } from '../../local/provision';

/** Where jest's global setup (test/integration/global-setup.ts) publishes the emulator endpoints. */
export const EMULATOR_ENV = {
  s3Endpoint: 'BITS_TEST_S3_ENDPOINT',
  dynamoEndpoint: 'BITS_TEST_DYNAMO_ENDPOINT',
} as const;

export interface EmulatorEndpoints {
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
}

/** The endpoints of the emulators jest started for this run. */
export function emulatorEndpoints(): EmulatorEndpoints {
  const s3Endpoint = process.env[EMULATOR_ENV.s3Endpoint];
  const dynamoEndpoint = process.env[EMULATOR_ENV.dynamoEndpoint];
  if (s3Endpoint === undefined || dynamoEndpoint === undefined) {
    throw new Error(
      `${EMULATOR_ENV.s3Endpoint} / ${EMULATOR_ENV.dynamoEndpoint} are unset: the emulators are started by ` +
        "jest's global setup of the contract and integration projects only (jest.config.js)",
    );
  }
  return { s3Endpoint, dynamoEndpoint };
}

/**
 * SDK clients for the emulators, built the way production builds them. Emulators answer at once,
 * so one retry is plenty and a broken emulator fails fast.
 */
export function emulatorClients(endpoints: EmulatorEndpoints = emulatorEndpoints()): AwsClients {
  return createAwsClients({
    ...endpoints,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 2,
  });
}

/** A name no other test file uses; valid as a table and as a bucket name. */
export const uniqueName = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 13)}`;

export interface AwsTestEnv {
  readonly clients: AwsClients;
  readonly tableName: string;
  readonly bucketName: string;
  /** Drops the table and closes the clients (the emulators die with the run anyway). */
  destroy(): Promise<void>;
}

/** Clients plus a fresh table and bucket of their own, for one test file (call in beforeAll). */
export async function createAwsTestEnv(prefix = 'bits-test'): Promise<AwsTestEnv> {
  const clients = emulatorClients();
  const tableName = uniqueName(prefix);
  const bucketName = uniqueName(prefix);
  await Promise.all([ensureTable(clients.dynamo, tableName), ensureBucket(clients.s3, bucketName)]);
  return {
    clients,
    tableName,
    bucketName,
    async destroy() {
      await clients.dynamo.send(new DeleteTableCommand({ TableName: tableName }));
      clients.documents.destroy();
      clients.dynamo.destroy();
      clients.s3.destroy();
    },
  };
}
