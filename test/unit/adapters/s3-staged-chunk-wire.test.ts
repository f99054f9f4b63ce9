import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { crc32Base64, S3UploadStore } from '../../../lambda/adapters/s3-upload-store';

/**
 * The staged-chunk calls as they go over the wire (aws-sdk-client-mock stops before the middleware
 * that builds and signs the request): a loopback HTTP server stands in for S3 and records what
 * arrives.
 */
interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

describe('S3UploadStore requests on the wire', () => {
  let server: Server;
  let client: S3Client;
  let store: S3UploadStore;
  const received: Received[] = [];
  let answer: Buffer = Buffer.alloc(0);

  beforeAll(async () => {
    server = createServer((request, response) => {
      const pieces: Buffer[] = [];
      request.on('data', (piece: Buffer) => pieces.push(piece));
      request.on('end', () => {
        received.push({
          method: request.method ?? '',
          url: request.url ?? '',
          headers: request.headers,
          body: Buffer.concat(pieces),
        });
        if (request.method === 'POST' && request.url?.includes('uploads')) {
          response.writeHead(200, { 'content-type': 'application/xml' });
          response.end(
            '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bucket</Bucket>' +
              '<Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>',
          );
        } else if (request.method === 'POST') {
          response.writeHead(200, { 'content-type': 'application/xml' });
          response.end(
            '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>bucket</Bucket>' +
              '<Key>k</Key><ETag>"done"</ETag></CompleteMultipartUploadResult>',
          );
        } else if (request.method === 'GET') {
          // Sent in several writes, so the adapter sees more than one piece.
          response.writeHead(200, { 'content-length': answer.length, etag: '"x"' });
          for (let at = 0; at < answer.length; at += 1000) response.write(answer.subarray(at, at + 1000));
          response.end();
        } else {
          response.writeHead(200, { etag: '"x"', 'content-length': 0 });
          response.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    store = new S3UploadStore(client, 'bucket');
  });

  afterAll(async () => {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    received.length = 0;
  });

  it('signs the PutObject with the SHA-256 it was given and sends it for S3 to verify, with no CRC32', async () => {
    const body = Buffer.alloc(100_000, 7);
    const digest = createHash('sha256').update(body);
    const base64 = digest.copy().digest('base64');
    await store.putStagedChunk('bits-staging/s/0-100000-abc', body, base64);
    const [put] = received;
    expect(put?.method).toBe('PUT');
    expect(put?.url?.split('?')[0]).toBe('/bucket/bits-staging/s/0-100000-abc');
    expect(put?.headers['x-amz-content-sha256']).toBe(digest.digest('hex'));
    expect(put?.headers['x-amz-checksum-sha256']).toBe(base64);
    expect(put?.headers['x-amz-checksum-crc32']).toBeUndefined();
    // The signature covers the payload hash header, as SigV4 requires.
    expect(put?.headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-content-sha256/);
    expect(put?.body.equals(body)).toBe(true);
  });

  it("signs every PutObject with its own digest, and a PutObject without one with the SDK's hash", async () => {
    const bodies = [Buffer.alloc(1000, 1), Buffer.alloc(2000, 2)];
    const digests = bodies.map((body) => createHash('sha256').update(body));
    for (const [index, body] of bodies.entries()) {
      await store.putStagedChunk(
        `bits-staging/s/${index}`,
        body,
        digests[index]?.copy().digest('base64') ?? '',
      );
    }
    const whole = Buffer.from('a whole object');
    await store.putObject('uploads/whole.bin', whole, {}, { overwrite: true });
    expect(received.map((request) => request.headers['x-amz-content-sha256'])).toEqual([
      digests[0]?.digest('hex'),
      digests[1]?.digest('hex'),
      createHash('sha256').update(whole).digest('hex'),
    ]);
  });

  it("sends a full-object CRC32 upload: algorithm and type at create, each part's CRC32, and all of them at Complete", async () => {
    const checked = new S3UploadStore(client, 'bucket', { fullObjectChecksums: true });
    const upload = await checked.createMultipartUpload('uploads/f.bin', { 'bits-session-id': '{S}' });
    const first = Buffer.alloc(5 * 1024 * 1024, 1);
    const last = Buffer.from('123456789');
    const one = await checked.uploadPart(upload, 1, first);
    const two = await checked.uploadPart(upload, 2, last);
    await checked.completeMultipartUpload(
      upload,
      [
        { partNumber: 1, ...one },
        { partNumber: 2, ...two },
      ],
      { overwrite: false },
    );
    const [create, part1, part2, complete] = received;
    expect(create?.headers).toMatchObject({
      'x-amz-checksum-algorithm': 'CRC32',
      'x-amz-checksum-type': 'FULL_OBJECT',
    });
    expect(part1?.headers['x-amz-checksum-crc32']).toBe(crc32Base64(first));
    expect(part2?.headers['x-amz-checksum-crc32']).toBe('y/Q5Jg==');
    // S3 verifies a part by its CRC32 (a signed header): SigV4 does not hash the part's body too.
    expect(part1?.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(part2?.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(part2?.headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-checksum-crc32/);
    expect(part2?.body).toEqual(last);
    expect(complete?.headers).toMatchObject({ 'x-amz-checksum-type': 'FULL_OBJECT', 'if-none-match': '*' });
    const xml = complete?.body.toString() ?? '';
    // ETag, checksum, part number: the order in which fauxqs 1.9.2's part pattern finds nothing.
    expect(xml).toContain(
      `<Part><ETag>&quot;x&quot;</ETag><ChecksumCRC32>${crc32Base64(first)}</ChecksumCRC32>`,
    );
    expect(xml).toContain('<ChecksumCRC32>y/Q5Jg==</ChecksumCRC32><PartNumber>2</PartNumber>');
  });

  it('sends plain multipart uploads to a custom endpoint unless told otherwise', async () => {
    const upload = await store.createMultipartUpload('uploads/g.bin', {});
    await store.completeMultipartUpload(upload, [{ partNumber: 1, etag: '"x"', checksum: 'y/Q5Jg==' }], {
      overwrite: true,
    });
    const [create, complete] = received;
    expect(create?.headers['x-amz-checksum-algorithm']).toBeUndefined();
    expect(complete?.headers['x-amz-checksum-type']).toBeUndefined();
    expect(complete?.body.toString()).not.toContain('ChecksumCRC32');
  });

  it('reads a chunk sent in many pieces into the buffer given', async () => {
    answer = Buffer.from(Array.from({ length: 4500 }, (_, index) => index % 251));
    const into = Buffer.alloc(answer.length);
    const read = await store.readStagedChunk('bits-staging/s/0-4500-abc', into);
    expect(read).toEqual({
      length: answer.length,
      sha256: createHash('sha256').update(answer).digest('base64'),
    });
    expect(into.equals(answer)).toBe(true);
  });
});
