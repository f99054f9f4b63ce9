import { Logger } from '@aws-lambda-powertools/logger';
import { S3Client } from '@aws-sdk/client-s3';
import { createUploadConsumer } from './handler';

/**
 * The Lambda entry point (composition root). The client and logger are built once per execution
 * environment so warm invocations reuse them; region and credentials come from the runtime, the
 * log level from POWERTOOLS_LOG_LEVEL. Tests call createUploadConsumer with their own client.
 */
export const handler = createUploadConsumer({
  s3: new S3Client({}),
  logger: new Logger({ serviceName: 'bits-upload-consumer' }),
});
