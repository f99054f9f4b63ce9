import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorCode } from '../lambda/adapters/aws-errors';

/** Attribute DynamoDB TTL reads (epoch seconds); the session store writes it on every META item. */
export const TTL_ATTRIBUTE = 'ttl';

/**
 * Creates the session table as the CDK stack defines it (pk/sk strings, on-demand, TTL on `ttl`)
 * unless it exists. Used by the local server and the tests, so both run the same table shape.
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
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (error) {
    if (errorCode(error) !== 'ResourceInUseException') throw error;
  }
  // DynamoDB Local creates tables ACTIVE at once; the waiter returns on its first look there.
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: name });
  await enableTtl(client, name);
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
