import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { S3ObjectLinks } from '../../../lambda/adapters/s3-object-links';
import { S3UploadStore } from '../../../lambda/adapters/s3-upload-store';
import { ObjectChangedError, StoreUnavailableError } from '../../../lambda/ports/errors';

const s3 = mockClient(S3Client);
const client = new S3Client({
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
});
const store = new S3UploadStore(client, 'uploads');

/** GetObject's Body is a Node stream, which the adapter reads as an async iterable. */
const streamOf = (bytes: Buffer) => Readable.from([bytes]) as never;

async function collect(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

beforeEach(() => {
  s3.reset();
});

describe('S3UploadStore reading and deleting whole objects (upload-reply)', () => {
  it('reads a byte range with one ranged GetObject and learns the whole size from Content-Range', async () => {
    s3.on(GetObjectCommand).resolves({
      Body: streamOf(Buffer.from('2345')),
      ContentLength: 4,
      ContentRange: 'bytes 2-5/10',
    });
    const content = await store.readObject('bits-replies/x/responsefile.bin', { start: 2, end: 5 });
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'uploads',
      Key: 'bits-replies/x/responsefile.bin',
      Range: 'bytes=2-5',
    });
    expect(content?.size).toBe(10);
    expect(content?.contentLength).toBe(4);
    expect((await collect(content?.body ?? [])).toString()).toBe('2345');
  });

  it('reads a whole object without a Range header', async () => {
    s3.on(GetObjectCommand).resolves({ Body: streamOf(Buffer.from('whole')), ContentLength: 5 });
    const content = await store.readObject('uploads/a.bin');
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).not.toHaveProperty('Range');
    expect(content?.size).toBe(5);
  });

  it('answers undefined for a missing key, and a throttled read is transient', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'gone', $metadata: {} }));
    expect(await store.readObject('nope')).toBeUndefined();
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'SlowDown',
        $fault: 'server',
        message: 'slow',
        $metadata: { httpStatusCode: 503 },
      }),
    );
    await expect(store.readObject('busy')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('pins a read to an ETag with If-Match; a 412 means another object is there now', async () => {
    s3.on(GetObjectCommand).resolves({
      Body: streamOf(Buffer.from('23')),
      ContentLength: 2,
      ContentRange: 'bytes 2-3/10',
    });
    await store.readObject('bits-replies/x/1/responsefile.bin', { start: 2, end: 3 }, '"e1"');
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'uploads',
      Key: 'bits-replies/x/1/responsefile.bin',
      Range: 'bytes=2-3',
      IfMatch: '"e1"',
    });
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'PreconditionFailed',
        $fault: 'client',
        message: 'At least one of the pre-conditions you specified did not hold',
        $metadata: { httpStatusCode: 412 },
      }),
    );
    await expect(store.readObject('k', undefined, '"e1"')).rejects.toBeInstanceOf(ObjectChangedError);
  });

  it('inspects an object: size, metadata, ETag, and the version on a versioned bucket only', async () => {
    s3.on(HeadObjectCommand)
      .resolvesOnce({
        ContentLength: 4,
        Metadata: { 'bits-session-id': '{X}' },
        ETag: '"e"',
        VersionId: 'v1',
      })
      .resolvesOnce({ ContentLength: 4, Metadata: {}, ETag: '"e"', VersionId: 'null' })
      .rejectsOnce(
        new S3ServiceException({
          name: 'NotFound',
          $fault: 'client',
          message: '',
          $metadata: { httpStatusCode: 404 },
        }),
      );
    expect(await store.inspectObject('uploads/a.bin')).toEqual({
      size: 4,
      metadata: { 'bits-session-id': '{X}' },
      etag: '"e"',
      versionId: 'v1',
    });
    expect(await store.inspectObject('uploads/a.bin')).toEqual({ size: 4, metadata: {}, etag: '"e"' });
    expect(await store.inspectObject('uploads/a.bin')).toBeUndefined();
  });

  it('deletes a reply folder by listing its prefix and one DeleteObjects per page', async () => {
    s3.on(ListObjectsV2Command).resolves({
      Contents: [{ Key: 'bits-replies/{X}/1/incoming.bin' }, { Key: 'bits-replies/{X}/1/responsefile.bin' }],
    });
    s3.on(DeleteObjectsCommand).resolves({});
    await store.deleteReplyFolder('bits-replies/{X}/');
    expect(s3.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toMatchObject({
      Bucket: 'uploads',
      Prefix: 'bits-replies/{X}/',
    });
    expect(s3.commandCalls(DeleteObjectsCommand)[0]?.args[0].input.Delete?.Objects).toEqual([
      { Key: 'bits-replies/{X}/1/incoming.bin' },
      { Key: 'bits-replies/{X}/1/responsefile.bin' },
    ]);
    await expect(store.deleteReplyFolder('')).rejects.toThrow(/non-empty prefix/);
  });

  it('deletes one object with DeleteObject', async () => {
    s3.on(DeleteObjectCommand).resolves({});
    await store.deleteObject('bits-replies/x/responsefile.bin');
    expect(s3.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'uploads',
      Key: 'bits-replies/x/responsefile.bin',
    });
  });
});

describe('S3ObjectLinks', () => {
  const links = new S3ObjectLinks(client, 'uploads');

  it('names objects s3://bucket/key', () => {
    expect(links.objectName('uploads/a b.bin')).toBe('s3://uploads/uploads/a b.bin');
  });

  it('presigns a GET and a PUT of the key with the given expiry, signed locally (no request)', async () => {
    const get = new URL(await links.presignGet('uploads/a.bin', 300));
    const put = new URL(await links.presignPut('bits-replies/{X}/responsefile.bin', 25));
    expect(get.pathname).toBe('/uploads/a.bin');
    expect(get.hostname).toBe('uploads.s3.us-east-1.amazonaws.com');
    expect(get.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(get.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(decodeURIComponent(put.pathname)).toBe('/bits-replies/{X}/responsefile.bin');
    expect(put.searchParams.get('X-Amz-Expires')).toBe('25');
    expect(put.searchParams.get('X-Amz-Signature')).not.toBe(get.searchParams.get('X-Amz-Signature'));
    expect(s3.calls()).toHaveLength(0);
  });

  it('pins the presigned GET to a version when there is one (a query parameter, unlike If-Match)', async () => {
    const pinned = new URL(await links.presignGet('uploads/a.bin', 300, 'v1'));
    expect(pinned.searchParams.get('versionId')).toBe('v1');
    const unpinned = new URL(await links.presignGet('uploads/a.bin', 300));
    expect(unpinned.searchParams.has('versionId')).toBe(false);
  });
});
