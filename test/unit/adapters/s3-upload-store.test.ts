import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  NoSuchKey,
  NoSuchUpload,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { crc32Base64, crc32Table, S3UploadStore } from '../../../lambda/adapters/s3-upload-store';
import {
  DestinationExistsError,
  InvalidPartsError,
  StagedChunkMissingError,
  StoreUnavailableError,
  UploadNotFoundError,
} from '../../../lambda/ports/errors';

const BUCKET = 'uploads-bucket';
const upload = { key: 'uploads/file.bin', uploadId: 'upload-1' };

/** An S3 error as the SDK raises it from an error response. */
function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

const s3 = mockClient(S3Client);
const store = new S3UploadStore(new S3Client({ region: 'us-east-1' }), BUCKET);

beforeEach(() => {
  s3.reset();
});

const inputOf = <T>(calls: { args: [{ input: T }] }[], index = 0): T | undefined =>
  calls[index]?.args[0].input;

describe('S3UploadStore multipart commands', () => {
  it('creates the upload with the metadata that must end up on the object and a full-object CRC32', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-9' });
    expect(await store.createMultipartUpload('uploads/a.bin', { 'bits-session-id': '{X}' })).toEqual({
      key: 'uploads/a.bin',
      uploadId: 'upload-9',
    });
    expect(inputOf(s3.commandCalls(CreateMultipartUploadCommand))).toEqual({
      Bucket: BUCKET,
      Key: 'uploads/a.bin',
      Metadata: { 'bits-session-id': '{X}' },
      ChecksumAlgorithm: 'CRC32',
      ChecksumType: 'FULL_OBJECT',
    });
  });

  it('uploads a part with its CRC32 for S3 to verify and returns the ETag and the CRC32', async () => {
    s3.on(UploadPartCommand).resolves({ ETag: '"abc"' });
    // The check value of CRC-32 (ISO-HDLC) is 0xCBF43926 for "123456789".
    const body = Buffer.from('123456789');
    expect(await store.uploadPart(upload, 4, body)).toEqual({ etag: '"abc"', checksum: 'y/Q5Jg==' });
    expect(inputOf(s3.commandCalls(UploadPartCommand))).toEqual({
      Bucket: BUCKET,
      Key: upload.key,
      UploadId: upload.uploadId,
      PartNumber: 4,
      Body: body,
      ContentLength: 9,
      ChecksumAlgorithm: 'CRC32',
      ChecksumCRC32: 'y/Q5Jg==',
    });
  });

  it('computes the same CRC32 without zlib.crc32 (Node releases before 20.15)', () => {
    for (const body of [Buffer.from('123456789'), Buffer.alloc(0), Buffer.alloc(70_000, 0xc3)]) {
      expect(crc32Table(body)).toBe(zlib.crc32(body));
    }
  });

  it('encodes CRC32 as S3 does, big-endian in base64, for empty and large bodies alike', () => {
    expect(crc32Base64(new Uint8Array(0))).toBe('AAAAAA==');
    const large = Buffer.alloc(3 * 1024 * 1024, 0x5a);
    expect(crc32Base64(large)).toBe(
      Buffer.from(zlib.crc32(large).toString(16).padStart(8, '0'), 'hex').toString('base64'),
    );
  });

  it("completes with the parts' CRC32s and a full-object checksum type when every part has one", async () => {
    s3.on(CompleteMultipartUploadCommand).resolves({});
    await store.completeMultipartUpload(
      upload,
      [
        { partNumber: 1, etag: '"a"', checksum: 'AAAAAQ==' },
        { partNumber: 2, etag: '"b"', checksum: 'AAAAAg==' },
      ],
      { overwrite: true },
    );
    expect(inputOf(s3.commandCalls(CompleteMultipartUploadCommand))).toEqual({
      Bucket: BUCKET,
      Key: upload.key,
      UploadId: upload.uploadId,
      MultipartUpload: {
        Parts: [
          { PartNumber: 1, ETag: '"a"', ChecksumCRC32: 'AAAAAQ==' },
          { PartNumber: 2, ETag: '"b"', ChecksumCRC32: 'AAAAAg==' },
        ],
      },
      ChecksumType: 'FULL_OBJECT',
    });
  });

  it('completes without checksums when a part record has none (written before parts had one)', async () => {
    s3.on(CompleteMultipartUploadCommand).resolves({});
    await store.completeMultipartUpload(
      upload,
      [
        { partNumber: 1, etag: '"a"', checksum: 'AAAAAQ==' },
        { partNumber: 2, etag: '"b"' },
      ],
      { overwrite: true },
    );
    expect(inputOf(s3.commandCalls(CompleteMultipartUploadCommand))).toEqual({
      Bucket: BUCKET,
      Key: upload.key,
      UploadId: upload.uploadId,
      MultipartUpload: {
        Parts: [
          { PartNumber: 1, ETag: '"a"' },
          { PartNumber: 2, ETag: '"b"' },
        ],
      },
    });
  });

  it('reports a part upload to a vanished upload as UploadNotFoundError', async () => {
    s3.on(UploadPartCommand).rejects(
      new NoSuchUpload({ message: 'gone', $metadata: { httpStatusCode: 404 } }),
    );
    await expect(store.uploadPart(upload, 1, new Uint8Array(1))).rejects.toBeInstanceOf(UploadNotFoundError);
  });

  it('completes with exactly the given parts in the given order and never lists parts', async () => {
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const parts = [
      { partNumber: 1, etag: '"a"' },
      { partNumber: 3, etag: '"c"' },
      { partNumber: 2, etag: '"b"' },
    ];
    await store.completeMultipartUpload(upload, parts, { overwrite: true });
    const input = inputOf(s3.commandCalls(CompleteMultipartUploadCommand));
    expect(input).toEqual({
      Bucket: BUCKET,
      Key: upload.key,
      UploadId: upload.uploadId,
      MultipartUpload: {
        Parts: [
          { PartNumber: 1, ETag: '"a"' },
          { PartNumber: 3, ETag: '"c"' },
          { PartNumber: 2, ETag: '"b"' },
        ],
      },
    });
    expect(input).not.toHaveProperty('IfNoneMatch');
    expect(s3.commandCalls(ListPartsCommand)).toHaveLength(0);
  });

  it('completes with If-None-Match: * when overwrites are off', async () => {
    s3.on(CompleteMultipartUploadCommand).resolves({});
    await store.completeMultipartUpload(upload, [{ partNumber: 1, etag: '"a"' }], { overwrite: false });
    expect(inputOf(s3.commandCalls(CompleteMultipartUploadCommand))).toMatchObject({ IfNoneMatch: '*' });
  });

  it.each([
    ['PreconditionFailed', 412, DestinationExistsError],
    ['ConditionalRequestConflict', 409, StoreUnavailableError],
    ['NoSuchUpload', 404, UploadNotFoundError],
    ['InvalidPart', 400, InvalidPartsError],
    ['InvalidPartOrder', 400, InvalidPartsError],
    ['EntityTooSmall', 400, InvalidPartsError],
    ['InternalError', 500, StoreUnavailableError],
    ['SlowDown', 503, StoreUnavailableError],
  ] as const)('translates %s (%i) from Complete into %p', async (name, status, domainError) => {
    const error = s3Error(name, status);
    s3.on(CompleteMultipartUploadCommand).rejects(error);
    const thrown = await store
      .completeMultipartUpload(upload, [{ partNumber: 1, etag: '"a"' }], { overwrite: false })
      .catch((caught: unknown) => caught);
    expect(thrown).toBeInstanceOf(domainError);
    expect((thrown as Error).cause).toBe(error);
  });

  it('refuses an empty part list without calling S3', async () => {
    await expect(store.completeMultipartUpload(upload, [], { overwrite: true })).rejects.toBeInstanceOf(
      InvalidPartsError,
    );
    expect(s3.calls()).toHaveLength(0);
  });

  it('rethrows an error it does not recognise, unchanged', async () => {
    const denied = s3Error('AccessDenied', 403);
    s3.on(CompleteMultipartUploadCommand).rejects(denied);
    await expect(
      store.completeMultipartUpload(upload, [{ partNumber: 1, etag: '"a"' }], { overwrite: true }),
    ).rejects.toBe(denied);
  });

  it('treats aborting a vanished upload as done, but not other failures', async () => {
    s3.on(AbortMultipartUploadCommand)
      .rejectsOnce(s3Error('NoSuchUpload', 404))
      .rejectsOnce(s3Error('AccessDenied', 403));
    await expect(store.abortMultipartUpload(upload)).resolves.toBeUndefined();
    await expect(store.abortMultipartUpload(upload)).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(inputOf(s3.commandCalls(AbortMultipartUploadCommand))).toEqual({
      Bucket: BUCKET,
      Key: upload.key,
      UploadId: upload.uploadId,
    });
  });
});

describe('S3UploadStore whole objects', () => {
  it('puts an object with If-None-Match: * only when overwrites are off', async () => {
    s3.on(PutObjectCommand).resolves({});
    const body = new Uint8Array(0);
    await store.putObject('uploads/empty', body, { a: 'b' }, { overwrite: false });
    await store.putObject('uploads/empty', body, { a: 'b' }, { overwrite: true });
    const calls = s3.commandCalls(PutObjectCommand);
    expect(inputOf(calls, 0)).toEqual({
      Bucket: BUCKET,
      Key: 'uploads/empty',
      Body: body,
      ContentLength: 0,
      Metadata: { a: 'b' },
      ChecksumAlgorithm: 'CRC32',
      IfNoneMatch: '*',
    });
    expect(inputOf(calls, 1)).not.toHaveProperty('IfNoneMatch');
  });

  it.each([
    ['PreconditionFailed', 412, DestinationExistsError],
    ['ConditionalRequestConflict', 409, StoreUnavailableError],
  ] as const)('translates %s (%i) from PutObject into %p', async (name, status, domainError) => {
    s3.on(PutObjectCommand).rejects(s3Error(name, status));
    await expect(store.putObject('k', new Uint8Array(0), {}, { overwrite: false })).rejects.toBeInstanceOf(
      domainError,
    );
  });

  it('heads an object: metadata and size, or undefined when S3 says NotFound', async () => {
    s3.on(HeadObjectCommand)
      .resolvesOnce({ Metadata: { 'bits-session-id': '{X}' }, ContentLength: 42 })
      .rejectsOnce(new NotFound({ message: 'NotFound', $metadata: { httpStatusCode: 404 } }))
      .rejectsOnce(s3Error('Forbidden', 403));
    expect(await store.headObject('k')).toEqual({ metadata: { 'bits-session-id': '{X}' }, size: 42 });
    expect(await store.headObject('k')).toBeUndefined();
    // Without s3:ListBucket, S3 answers 403 for a missing key: that must not read as "absent".
    await expect(store.headObject('k')).rejects.toMatchObject({ name: 'Forbidden' });
  });
});

describe('S3UploadStore staged chunks', () => {
  const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('base64');

  it('streams a staged chunk into the buffer given, piece by piece, with its length and SHA-256', async () => {
    const pieces = [Buffer.from([9, 8, 7]), Buffer.from([6, 5])];
    const Body = Readable.from(pieces) as unknown as GetObjectCommandOutput['Body'];
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: 'st/1' }).resolves({ Body });
    const into = Buffer.alloc(5);
    expect(await store.readStagedChunk('st/1', into)).toEqual({
      length: 5,
      sha256: sha256(Buffer.concat(pieces)),
    });
    expect([...into]).toEqual([9, 8, 7, 6, 5]);
  });

  it('reports the real length of a chunk longer than the buffer and writes nothing past it', async () => {
    const Body = Readable.from([
      Buffer.from([1, 2, 3]),
      Buffer.from([4]),
    ]) as unknown as GetObjectCommandOutput['Body'];
    s3.on(GetObjectCommand).resolves({ Body });
    const backing = Buffer.alloc(4, 0xee);
    const read = await store.readStagedChunk('st/1', backing.subarray(0, 2));
    expect(read).toEqual({ length: 4, sha256: sha256(Buffer.from([1, 2, 3, 4])) });
    expect([...backing]).toEqual([1, 2, 0xee, 0xee]);
  });

  it('reports a missing staged chunk as StagedChunkMissingError', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'no', $metadata: { httpStatusCode: 404 } }));
    await expect(store.readStagedChunk('st/2', Buffer.alloc(1))).rejects.toBeInstanceOf(
      StagedChunkMissingError,
    );
  });

  it('puts a staged chunk without metadata or conditions, with its SHA-256 for S3 to verify', async () => {
    s3.on(PutObjectCommand).resolves({});
    const body = new Uint8Array([1]);
    await store.putStagedChunk('st/3', body, sha256(body));
    expect(inputOf(s3.commandCalls(PutObjectCommand))).toEqual({
      Bucket: BUCKET,
      Key: 'st/3',
      Body: body,
      ContentLength: 1,
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: sha256(body),
    });
  });

  it('deletes named chunks with quiet DeleteObjects of at most 1,000 keys', async () => {
    s3.on(DeleteObjectsCommand).resolves({});
    const keys = Array.from({ length: 2500 }, (_, index) => `st/${index}`);
    await store.deleteStagedChunks(keys);
    await store.deleteStagedChunks([]);
    const batches = s3.commandCalls(DeleteObjectsCommand).map((call) => call.args[0].input.Delete);
    expect(batches.map((batch) => batch?.Objects?.length)).toEqual([1000, 1000, 500]);
    expect(batches.every((batch) => batch?.Quiet === true)).toBe(true);
    expect(batches[2]?.Objects?.[499]).toEqual({ Key: 'st/2499' });
  });

  it('surfaces per-key DeleteObjects failures reported inside a 200 response', async () => {
    s3.on(DeleteObjectsCommand)
      .resolvesOnce({ Errors: [{ Key: 'st/1', Code: 'InternalError' }] })
      .resolvesOnce({ Errors: [{ Key: 'st/1', Code: 'AccessDenied' }] });
    await expect(store.deleteStagedChunks(['st/1'])).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.deleteStagedChunks(['st/1'])).rejects.toThrow(/AccessDenied/);
  });

  it('deletes a staging prefix page by page, following continuation tokens', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'st/s1/a' }, { Key: 'st/s1/b' }],
        IsTruncated: true,
        NextContinuationToken: 'next',
      })
      .resolvesOnce({ Contents: [{ Key: 'st/s1/c' }], IsTruncated: false });
    s3.on(DeleteObjectsCommand).resolves({});
    await store.deleteStagingPrefix('st/s1/');
    const listings = s3.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input);
    expect(listings).toEqual([
      { Bucket: BUCKET, Prefix: 'st/s1/', ContinuationToken: undefined },
      { Bucket: BUCKET, Prefix: 'st/s1/', ContinuationToken: 'next' },
    ]);
    const deleted = s3.commandCalls(DeleteObjectsCommand).map((call) => call.args[0].input.Delete?.Objects);
    expect(deleted).toEqual([[{ Key: 'st/s1/a' }, { Key: 'st/s1/b' }], [{ Key: 'st/s1/c' }]]);
  });

  it('refuses an empty prefix, which would name the whole bucket', async () => {
    await expect(store.deleteStagingPrefix('')).rejects.toThrow(/non-empty/);
    expect(s3.calls()).toHaveLength(0);
  });

  it.each([
    ['putStagedChunk', () => store.putStagedChunk('k', new Uint8Array(1), 'bm90IGNoZWNrZWQgaGVyZQ==')],
    ['readStagedChunk', () => store.readStagedChunk('k', Buffer.alloc(1))],
    ['headObject', () => store.headObject('k')],
    ['createMultipartUpload', () => store.createMultipartUpload('k', {})],
    ['uploadPart', () => store.uploadPart(upload, 1, new Uint8Array(1))],
    ['abortMultipartUpload', () => store.abortMultipartUpload(upload)],
    ['deleteStagingPrefix', () => store.deleteStagingPrefix('st/')],
  ] as const)('turns SlowDown in %s into StoreUnavailableError', async (_name, call) => {
    s3.onAnyCommand().rejects(s3Error('SlowDown', 503));
    await expect(call()).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
