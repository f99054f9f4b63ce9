/**
 * Regression: Create-Session copies client-controlled strings into S3 user metadata without a
 * size bound: `bits-original-path` (the raw, still percent-encoded URL path) and
 * `bits-content-name` (the Content-Name header, accepted up to 4 KB by request.ts). S3 limits
 * user-defined metadata to 2 KB (sum of UTF-8 bytes of keys and values) and answers 400
 * MetadataTooLarge; translateUnknown rethrows it (not transient) and the client gets
 * 500 E_FAIL (0x80004005) for its own input — invariant 3.
 * Cause: lambda/handlers/create-session.ts:127-132.
 * The in-memory store does not enforce the limit, so this test wraps it with S3's documented rule.
 */
import type { ObjectMetadata } from '../../../lambda/ports/upload-store';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { makeTestBed } from '../../helpers/test-deps';

const S3_USER_METADATA_LIMIT = 2048;

function withS3MetadataLimit(bed: ReturnType<typeof makeTestBed>): void {
  const create = bed.uploads.createMultipartUpload.bind(bed.uploads);
  bed.uploads.createMultipartUpload = async (key: string, metadata: ObjectMetadata) => {
    const size = Object.entries(metadata).reduce(
      (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value),
      0,
    );
    if (size > S3_USER_METADATA_LIMIT) {
      throw Object.assign(new Error('Your metadata headers exceed the maximum allowed metadata size'), {
        name: 'MetadataTooLarge',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    }
    return create(key, metadata);
  };
}

const createHeaders = { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL };

describe('regression: client strings copied into S3 metadata', () => {
  it('does not answer 500 E_FAIL for a 3 KB Content-Name on Create-Session', async () => {
    const bed = makeTestBed();
    withS3MetadataLimit(bed);
    const answer = await send(bed.handler, {
      path: '/up/a.bin',
      headers: { ...createHeaders, 'Content-Name': 'n'.repeat(3000) },
    });
    expect(answer.status).not.toBe(500);
  });

  it('does not answer 500 E_FAIL for a valid non-ASCII path whose key is well under 1024 bytes', async () => {
    const bed = makeTestBed();
    withS3MetadataLimit(bed);
    // 400 × "é": an 811-byte key, but a 2,404-character percent-encoded path.
    const path = `/up/${encodeURIComponent('é'.repeat(400))}`;
    const answer = await send(bed.handler, { path, headers: createHeaders });
    expect(answer.status).not.toBe(500);
  });
});
