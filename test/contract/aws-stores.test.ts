import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { S3UploadStore } from '../../lambda/adapters/s3-upload-store';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import { describeReplyStores } from './reply-store.contract';
import { describeSessionStore } from './session-store.contract';
import { describeUploadStore } from './upload-store.contract';

let env: AwsTestEnv;
beforeAll(async () => {
  env = await createAwsTestEnv('contract');
});
afterAll(async () => {
  await env?.destroy();
});

// Pages of 25 items make the part-listing tests cross several Query pages, as 1 MB pages do on AWS.
describeSessionStore(
  'DynamoDB adapter on DynamoDB Local',
  () => new DynamoDbSessionStore(env.clients.documents, env.tableName, { pageSize: 25 }),
);
describeUploadStore('S3 adapter on fauxqs', () => new S3UploadStore(env.clients.s3, env.bucketName), {
  // fauxqs 1.9.2 ignores If-None-Match; test/unit/adapters covers the 412/409 mapping.
  conditionalWrites: false,
});
describeReplyStores(
  'DynamoDB adapter and S3 adapter on the emulators',
  () => new DynamoDbSessionStore(env.clients.documents, env.tableName),
  () => new S3UploadStore(env.clients.s3, env.bucketName),
);
