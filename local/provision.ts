import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorCode } from '../lambda/adapters/aws-errors';
import { OWNER_INDEX } from '../lambda/adapters/dynamodb-session-store';

/** Attribute DynamoDB TTL reads (epoch seconds); the session store writes it on every META item. */
export const TTL_ATTRIBUTE = 'ttl';

const OWNER_INDEX_ATTRIBUTES = [
  { AttributeName: OWNER_INDEX.partitionKey, AttributeType: 'S' },
  { AttributeName: OWNER_INDEX.sortKey, AttributeType: 'N' },
] as const;

/** The owner index (per-principal session limit) as the CDK stack defines it. */
const OWNER_GSI: GlobalSecondaryIndex = {
  IndexName: OWNER_INDEX.name,
  KeySchema: [
    { AttributeName: OWNER_INDEX.partitionKey, KeyType: 'HASH' },
    { AttributeName: OWNER_INDEX.sortKey, KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...OWNER_INDEX.projected] },
};

/**
 * Creates the session table as the CDK stack defines it (pk/sk strings, on-demand, TTL on `ttl`,
 * the owner index) unless it exists; a table from before the index (a kept `--data-dir`) gets it
 * added. Used by the local server and the tests, so both run the same table shape.
 */
export async function ensureTable(client: DynamoDBClient, name: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          ...OWNER_INDEX_ATTRIBUTES,
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [OWNER_GSI],
      }),
    );
  } catch (error) {
    if (errorCode(error) !== 'ResourceInUseException') throw error;
  }
  // DynamoDB Local creates tables ACTIVE at once; the waiter returns on its first look there.
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: name });
  await ensureOwnerIndex(client, name);
  await enableTtl(client, name);
}

async function ensureOwnerIndex(client: DynamoDBClient, name: string): Promise<void> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
  if (Table?.GlobalSecondaryIndexes?.some((index) => index.IndexName === OWNER_INDEX.name)) return;
  await client.send(
    new UpdateTableCommand({
      TableName: name,
      AttributeDefinitions: [...OWNER_INDEX_ATTRIBUTES],
      GlobalSecondaryIndexUpdates: [{ Create: OWNER_GSI }],
    }),
  );
  // On AWS the index backfills for a while; DynamoDB Local builds it at once.
  for (let attempt = 0; attempt < 120; attempt += 1) {
    const { Table: updated } = await client.send(new DescribeTableCommand({ TableName: name }));
    const index = updated?.GlobalSecondaryIndexes?.find((found) => found.IndexName === OWNER_INDEX.name);
    if (index?.IndexStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`index ${OWNER_INDEX.name} of ${name} did not become ACTIVE`);
}

async function enableTtl(client: DynamoDBClient, name: string): Promise<void> {
  try {
    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    if (TimeToLiveDescription?.TimeToLiveStatus === 'ENABLED') return;
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { Enabled: true, AttributeName: TTL_ATTRIBUTE },
      }),
    );
  } catch (error) {
    // An emulator without the TTL API still serves the table; records then simply never expire.
    if (errorCode(error) !== 'UnknownOperationException') throw error;
  }
}

/** Creates the bucket unless it exists already. */
export async function ensureBucket(client: S3Client, name: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
  }
}
