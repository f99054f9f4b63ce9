import { createHash, randomUUID } from 'node:crypto';
import { crc32Base64 } from '../../lambda/adapters/s3-upload-store';
import {
  DestinationExistsError,
  InvalidPartsError,
  StagedChunkMissingError,
  UploadNotFoundError,
} from '../../lambda/ports/errors';
import type { UploadStore } from '../../lambda/ports/upload-store';

const MiB = 1024 * 1024;
const OVERWRITE = { overwrite: true } as const;
const NO_OVERWRITE = { overwrite: false } as const;

/** What a back end can enforce; a missing capability skips only the assertions that need it. */
export interface UploadStoreCapabilities {
  /**
   * `If-None-Match: *` refuses to replace an existing object. fauxqs 1.9.2 ignores the header, so
   * the S3 adapter's side of it (sending the header, mapping 412/409) is proven with SDK mocks.
   */
  readonly conditionalWrites: boolean;
}

/** Deterministic bytes, distinct per seed, so a wrong part order or a stale part changes the hash. */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let index = 0; index < length; index += 1) out[index] = (index * 31 + seed * 7 + (index >> 8)) & 0xff;
  return out;
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const sha256Base64 = (data: Uint8Array): string => createHash('sha256').update(data).digest('base64');

/**
 * The UploadStore contract, run against the in-memory fake and the S3 adapter on fauxqs. Each test
 * works under its own key prefix, so stores may share one bucket.
 */
export function describeUploadStore(
  name: string,
  make: () => UploadStore | Promise<UploadStore>,
  capabilities: UploadStoreCapabilities = { conditionalWrites: true },
): void {
  describe(`UploadStore contract: ${name}`, () => {
    let store: UploadStore;
    let prefix: string;
    beforeEach(async () => {
      store = await make();
      prefix = `contract/${randomUUID()}/`;
    });

    /** The stored object's bytes. readStagedChunk reads any key, which is all this needs. */
    const readObject = async (key: string): Promise<Buffer> => {
      const into = Buffer.alloc((await store.headObject(key))?.size ?? 0);
      const read = await store.readStagedChunk(key, into);
      return into.subarray(0, read.length);
    };
    /** putStagedChunk with the digest its callers always pass. */
    const stage = (key: string, body: Uint8Array) => store.putStagedChunk(key, body, sha256Base64(body));

    describe('multipart uploads', () => {
      it('joins a 5 MiB part and a short last part into the object, with the metadata given at create', async () => {
        const key = `${prefix}file.bin`;
        const first = bytes(5 * MiB, 1);
        const last = bytes(1000, 2);
        const upload = await store.createMultipartUpload(key, { 'bits-session-id': '{ABC}', owner: 'alice' });
        expect(upload.key).toBe(key);
        // A retried part replaces the earlier upload of that number; Complete names the newer ETag.
        await store.uploadPart(upload, 1, bytes(5 * MiB, 9));
        const { etag: etag1 } = await store.uploadPart(upload, 1, first);
        const { etag: etag2 } = await store.uploadPart(upload, 2, last);
        expect(typeof etag1).toBe('string');
        expect(etag1).not.toBe(etag2);

        await store.completeMultipartUpload(
          upload,
          [
            { partNumber: 1, etag: etag1 },
            { partNumber: 2, etag: etag2 },
          ],
          NO_OVERWRITE,
        );

        expect(await store.headObject(key)).toEqual({
          size: first.length + last.length,
          metadata: { 'bits-session-id': '{ABC}', owner: 'alice' },
        });
        const stored = await readObject(key);
        expect(sha256(stored)).toBe(sha256(Buffer.concat([first, last])));
      });

      it("returns each part's CRC32 and completes with them into the whole file", async () => {
        const key = `${prefix}checksums.bin`;
        const first = bytes(5 * MiB, 3);
        const last = bytes(777, 4);
        const upload = await store.createMultipartUpload(key, {});
        const one = await store.uploadPart(upload, 1, first);
        const two = await store.uploadPart(upload, 2, last);
        expect(one.checksum).toBe(crc32Base64(first));
        expect(two.checksum).toBe(crc32Base64(last));
        await store.completeMultipartUpload(
          upload,
          [
            { partNumber: 1, ...one },
            { partNumber: 2, ...two },
          ],
          NO_OVERWRITE,
        );
        expect(sha256(await readObject(key))).toBe(sha256(Buffer.concat([first, last])));
      });

      it('refuses a part under 5 MiB that is not the last (EntityTooSmall)', async () => {
        const upload = await store.createMultipartUpload(`${prefix}small.bin`, {});
        const { etag: etag1 } = await store.uploadPart(upload, 1, bytes(5 * MiB - 1, 1));
        const { etag: etag2 } = await store.uploadPart(upload, 2, bytes(10, 2));
        await expect(
          store.completeMultipartUpload(
            upload,
            [
              { partNumber: 1, etag: etag1 },
              { partNumber: 2, etag: etag2 },
            ],
            OVERWRITE,
          ),
        ).rejects.toBeInstanceOf(InvalidPartsError);
        expect(await store.headObject(upload.key)).toBeUndefined();
      });

      it('refuses a part list with a wrong ETag', async () => {
        const upload = await store.createMultipartUpload(`${prefix}etag.bin`, {});
        await store.uploadPart(upload, 1, bytes(100, 1));
        await expect(
          store.completeMultipartUpload(
            upload,
            [{ partNumber: 1, etag: '"0123456789abcdef0123456789abcdef"' }],
            OVERWRITE,
          ),
        ).rejects.toBeInstanceOf(InvalidPartsError);
        expect(await store.headObject(upload.key)).toBeUndefined();
      });

      it('refuses a part list naming a part never uploaded', async () => {
        const upload = await store.createMultipartUpload(`${prefix}missing-part.bin`, {});
        const { etag } = await store.uploadPart(upload, 1, bytes(100, 1));
        await expect(
          store.completeMultipartUpload(upload, [{ partNumber: 2, etag }], OVERWRITE),
        ).rejects.toBeInstanceOf(InvalidPartsError);
      });

      it('refuses parts out of ascending order', async () => {
        const upload = await store.createMultipartUpload(`${prefix}order.bin`, {});
        const { etag: etag1 } = await store.uploadPart(upload, 1, bytes(100, 1));
        const { etag: etag2 } = await store.uploadPart(upload, 2, bytes(100, 2));
        await expect(
          store.completeMultipartUpload(
            upload,
            [
              { partNumber: 2, etag: etag2 },
              { partNumber: 1, etag: etag1 },
            ],
            OVERWRITE,
          ),
        ).rejects.toBeInstanceOf(InvalidPartsError);
      });

      it('keeps the upload after a refused Complete, so a corrected list still completes', async () => {
        const upload = await store.createMultipartUpload(`${prefix}retry.bin`, {});
        const body = bytes(100, 1);
        const { etag } = await store.uploadPart(upload, 1, body);
        await expect(
          store.completeMultipartUpload(upload, [{ partNumber: 1, etag: `"${'0'.repeat(32)}"` }], OVERWRITE),
        ).rejects.toBeInstanceOf(InvalidPartsError);
        await store.completeMultipartUpload(upload, [{ partNumber: 1, etag }], OVERWRITE);
        expect(sha256(await readObject(upload.key))).toBe(sha256(body));
      });

      it('reports an aborted upload as gone to uploadPart and Complete', async () => {
        const upload = await store.createMultipartUpload(`${prefix}aborted.bin`, {});
        const { etag } = await store.uploadPart(upload, 1, bytes(100, 1));
        await store.abortMultipartUpload(upload);
        await expect(store.uploadPart(upload, 2, bytes(100, 2))).rejects.toBeInstanceOf(UploadNotFoundError);
        await expect(
          store.completeMultipartUpload(upload, [{ partNumber: 1, etag }], OVERWRITE),
        ).rejects.toBeInstanceOf(UploadNotFoundError);
        expect(await store.headObject(upload.key)).toBeUndefined();
      });

      it('aborts an upload that is already gone without complaint', async () => {
        const upload = await store.createMultipartUpload(`${prefix}abort-twice.bin`, {});
        await store.abortMultipartUpload(upload);
        await expect(store.abortMultipartUpload(upload)).resolves.toBeUndefined();
      });

      it('replaces an existing object when overwrites are allowed', async () => {
        const key = `${prefix}replace.bin`;
        await store.putObject(key, bytes(10, 1), { version: '1' }, OVERWRITE);
        const upload = await store.createMultipartUpload(key, { version: '2' });
        const body = bytes(300, 2);
        const { etag } = await store.uploadPart(upload, 1, body);
        await store.completeMultipartUpload(upload, [{ partNumber: 1, etag }], OVERWRITE);
        expect(await store.headObject(key)).toEqual({ size: 300, metadata: { version: '2' } });
      });

      if (capabilities.conditionalWrites) {
        it('refuses to complete over an existing object when overwrites are off', async () => {
          const key = `${prefix}exists.bin`;
          await store.putObject(key, bytes(10, 1), { version: '1' }, OVERWRITE);
          const upload = await store.createMultipartUpload(key, { version: '2' });
          const { etag } = await store.uploadPart(upload, 1, bytes(300, 2));
          await expect(
            store.completeMultipartUpload(upload, [{ partNumber: 1, etag }], NO_OVERWRITE),
          ).rejects.toBeInstanceOf(DestinationExistsError);
          expect(await store.headObject(key)).toEqual({ size: 10, metadata: { version: '1' } });
        });
      }
    });

    describe('whole objects', () => {
      it('writes an empty object with its metadata', async () => {
        const key = `${prefix}empty.bin`;
        await store.putObject(key, new Uint8Array(0), { 'bits-session-id': '{E}' }, NO_OVERWRITE);
        expect(await store.headObject(key)).toEqual({ size: 0, metadata: { 'bits-session-id': '{E}' } });
        expect((await readObject(key)).length).toBe(0);
      });

      it('replaces an object when overwrites are allowed', async () => {
        const key = `${prefix}put-twice.bin`;
        await store.putObject(key, bytes(10, 1), {}, OVERWRITE);
        await store.putObject(key, bytes(20, 2), {}, OVERWRITE);
        expect((await store.headObject(key))?.size).toBe(20);
      });

      if (capabilities.conditionalWrites) {
        it('refuses to replace an object when overwrites are off', async () => {
          const key = `${prefix}put-exists.bin`;
          await store.putObject(key, bytes(10, 1), {}, OVERWRITE);
          await expect(store.putObject(key, bytes(20, 2), {}, NO_OVERWRITE)).rejects.toBeInstanceOf(
            DestinationExistsError,
          );
          expect((await store.headObject(key))?.size).toBe(10);
        });
      }

      it('reports no object at a key never written', async () => {
        expect(await store.headObject(`${prefix}nothing-here`)).toBeUndefined();
      });
    });

    describe('staged chunks', () => {
      it('streams every byte of a staged chunk into the buffer given, with its length and SHA-256', async () => {
        const key = `${prefix}staged/0-1000`;
        const body = bytes(256 * 1024 + 3, 5);
        await stage(key, body);
        const into = Buffer.alloc(body.length);
        expect(await store.readStagedChunk(key, into)).toEqual({
          length: body.length,
          sha256: sha256Base64(body),
        });
        expect(into.equals(Buffer.from(body))).toBe(true);
      });

      it('counts and hashes the bytes of a chunk longer than the buffer without writing past it', async () => {
        const key = `${prefix}staged/long`;
        const body = bytes(70 * 1024, 6);
        await stage(key, body);
        const backing = Buffer.alloc(1024 + 16, 0xee);
        const read = await store.readStagedChunk(key, backing.subarray(0, 1024));
        expect(read).toEqual({ length: body.length, sha256: sha256Base64(body) });
        expect(backing.subarray(0, 1024).equals(Buffer.from(body).subarray(0, 1024))).toBe(true);
        expect(backing.subarray(1024).every((byte) => byte === 0xee)).toBe(true);
      });

      it('reports a missing chunk as StagedChunkMissingError', async () => {
        await expect(
          store.readStagedChunk(`${prefix}staged/missing`, Buffer.alloc(1)),
        ).rejects.toBeInstanceOf(StagedChunkMissingError);
      });

      it('deletes the chunks named, tolerates names already gone and keeps the others', async () => {
        await stage(`${prefix}a`, bytes(10, 1));
        await stage(`${prefix}b`, bytes(10, 2));
        await store.deleteStagedChunks([`${prefix}a`, `${prefix}never-written`]);
        await store.deleteStagedChunks([]);
        await expect(store.readStagedChunk(`${prefix}a`, Buffer.alloc(10))).rejects.toBeInstanceOf(
          StagedChunkMissingError,
        );
        expect((await store.readStagedChunk(`${prefix}b`, Buffer.alloc(10))).length).toBe(10);
      });

      it('deletes everything under a staging prefix, past one listing page, and nothing beside it', async () => {
        const folder = `${prefix}session/`;
        const keys = Array.from({ length: 1010 }, (_, index) => `${folder}${index}`);
        for (let index = 0; index < keys.length; index += 100) {
          await Promise.all(keys.slice(index, index + 100).map((key) => stage(key, bytes(1, 0))));
        }
        // Same characters but not under the folder: `session-2/` must survive `session/`.
        const neighbour = `${prefix}session-2/0`;
        await stage(neighbour, bytes(1, 0));

        await store.deleteStagingPrefix(folder);

        for (const key of [keys[0], keys[999], keys[1000], keys[1009]]) {
          expect(await store.headObject(key ?? '')).toBeUndefined();
        }
        expect(await store.headObject(neighbour)).toEqual({ size: 1, metadata: {} });
      }, 30_000);

      it('deletes more than a thousand chunks named in one call', async () => {
        const keys = Array.from({ length: 1005 }, (_, index) => `${prefix}many/${index}`);
        for (let index = 0; index < keys.length; index += 100) {
          await Promise.all(keys.slice(index, index + 100).map((key) => stage(key, bytes(1, 0))));
        }
        await store.deleteStagedChunks(keys);
        for (const key of [keys[0], keys[999], keys[1000], keys[1004]]) {
          expect(await store.headObject(key ?? '')).toBeUndefined();
        }
      }, 30_000);

      it('deletes an empty staging prefix without complaint', async () => {
        await expect(store.deleteStagingPrefix(`${prefix}nothing/`)).resolves.toBeUndefined();
      });
    });
  });
}
