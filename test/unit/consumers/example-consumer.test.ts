import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createUploadConsumer, type ObjectCreatedEvent } from '../../../consumers/example/handler';
import { decodeMetadataValue } from '../../../consumers/example/metadata';

const EVENT = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'fixtures', 's3-events', 'object-created.json'), 'utf8'),
) as ObjectCreatedEvent;

/** The server's escaping (lambda/handlers/create-session.ts asciiMetadata), without the length budget. */
const escapeLikeServer = (value: string): string =>
  value.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));

describe('decodeMetadataValue', () => {
  it.each([
    ['non-ASCII', 'Übersicht – 2026.pdf'],
    ['a character outside the BMP', 'report 📄.pdf'],
    ['control characters', 'tab\there\nnew line'],
    ['a literal percent sign', '50% done'],
    ['percent-escapes of printable ASCII, which the server never writes for a character', '%41%2F%20'],
    ['plain ASCII', 'DOMAIN\\alice'],
  ])('restores the original value: %s', (_name, original) => {
    expect(decodeMetadataValue(escapeLikeServer(original))).toBe(original);
  });

  it('leaves a UTF-8 sequence cut by the length budget escaped, and decodes what precedes it', () => {
    // "Ü" then the first byte of another "Ü", as a cut at the budget leaves it, then "...".
    expect(decodeMetadataValue('%C3%9C%C3...')).toBe('Ü%C3...');
  });

  it('leaves escapes that are not UTF-8 as they are', () => {
    expect(decodeMetadataValue('%FF%80 and %E2%82')).toBe('%FF%80 and %E2%82');
  });
});

describe('createUploadConsumer with a mocked S3 client', () => {
  const s3 = mockClient(S3Client);
  const logger = new Logger({ logLevel: 'SILENT' });
  const consume = createUploadConsumer({ s3: new S3Client({ region: 'eu-west-1' }), logger });

  beforeEach(() => {
    s3.reset();
  });

  it('asks HeadObject for the checksum and reports the full-object checksum fields S3 returns', async () => {
    s3.on(HeadObjectCommand).resolves({
      ETag: `"${EVENT.detail.object.etag}"`,
      ContentLength: EVENT.detail.object.size,
      ChecksumCRC64NVME: 'AAAAAAAAAAA=',
      ChecksumType: 'FULL_OBJECT',
      Metadata: { 'bits-session-id': '{E2A2CC97-771C-4297-899E-16614BA6C689}' },
    });

    const summary = await consume(EVENT);

    expect(s3.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: EVENT.detail.bucket.name,
      Key: EVENT.detail.object.key,
      ChecksumMode: 'ENABLED',
    });
    expect(summary).toEqual({
      bucket: EVENT.detail.bucket.name,
      key: EVENT.detail.object.key,
      size: EVENT.detail.object.size,
      etag: EVENT.detail.object.etag,
      reason: 'CompleteMultipartUpload',
      completedAt: EVENT.time,
      sessionId: '{E2A2CC97-771C-4297-899E-16614BA6C689}',
      checksum: { type: 'FULL_OBJECT', crc64nvme: 'AAAAAAAAAAA=' },
    });
  });

  it('lets an access error propagate, so Lambda retries and the dead-letter queue keeps the event', async () => {
    s3.on(HeadObjectCommand).rejects(
      new S3ServiceException({
        name: 'Forbidden',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'Forbidden',
      }),
    );
    await expect(consume(EVENT)).rejects.toMatchObject({ name: 'Forbidden' });
  });
});
