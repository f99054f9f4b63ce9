import { createHash, randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { stagingFolder } from '../../lambda/assembler/staging';
import { composeDeps } from '../../lambda/compose';
import { createHandler } from '../../lambda/create-handler';
import type { HandlerDeps } from '../../lambda/handlers/types';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import { createSession, sendFragment, sendPacket } from '../helpers/bits-client-steps';
import { testConfig } from '../helpers/test-deps';

const KiB = 1024;
const MiB = 1024 * KiB;
const PART = 8 * MiB;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('the real handler on the real adapters (fauxqs + DynamoDB Local)', () => {
  let env: AwsTestEnv;
  let deps: HandlerDeps;
  let handler: ReturnType<typeof createHandler>;

  beforeAll(async () => {
    env = await createAwsTestEnv('e2e');
    const config = testConfig({
      tableName: env.tableName,
      bucketName: env.bucketName,
      partSize: String(PART),
    });
    deps = composeDeps(config, env.clients, new Logger({ logLevel: 'SILENT' }));
    handler = createHandler(deps);
  });

  afterAll(async () => env.destroy());

  async function storedBytes(key: string): Promise<Buffer | undefined> {
    try {
      const object = await env.clients.s3.send(new GetObjectCommand({ Bucket: env.bucketName, Key: key }));
      return Buffer.from((await object.Body?.transformToByteArray()) ?? new Uint8Array());
    } catch {
      return undefined;
    }
  }

  /** No staged object, no part item and no multipart upload of the session is left. */
  async function expectNoLeftovers(sessionId: string, key: string): Promise<void> {
    const prefix = stagingFolder(deps.config.stagingPrefix, sessionId);
    const listed = await env.clients.s3.send(
      new ListObjectsV2Command({ Bucket: env.bucketName, Prefix: prefix }),
    );
    expect(listed.KeyCount ?? 0).toBe(0);
    expect(await deps.sessions.listParts(sessionId)).toEqual([]);
    const session = await deps.sessions.getSession(sessionId);
    // fauxqs has no ListMultipartUploads: an UploadPart on the recorded id must find no upload.
    const probe = new UploadPartCommand({
      Bucket: env.bucketName,
      Key: key,
      UploadId: session?.uploadId ?? 'none',
      PartNumber: 1,
      Body: Buffer.from('x'),
    });
    await expect(env.clients.s3.send(probe)).rejects.toMatchObject({ name: 'NoSuchUpload' });
  }

  async function upload(path: string, file: Buffer, fragment: number): Promise<string> {
    const id = await createSession(handler, path);
    for (let offset = 0; offset < file.length; offset += fragment) {
      const answer = await sendFragment(
        handler,
        id,
        offset,
        file.subarray(offset, offset + fragment),
        file.length,
        {
          path,
        },
      );
      expect([answer.status, answer.headers['bits-received-content-range']]).toEqual([
        200,
        String(Math.min(file.length, offset + fragment)),
      ]);
    }
    expect((await sendPacket(handler, 'Close-Session', id, { path })).status).toBe(200);
    return id;
  }

  it.each([
    ['64 MiB in 1 MiB fragments', 64 * MiB, MiB],
    ['20 MiB in 4.4 MiB fragments', 20 * MiB, Math.floor(4.4 * MiB)],
    ['6 MiB in 5 KB fragments', 6 * MiB, 5 * KiB],
    ['1 byte', 1, 1],
    ['exactly one part', PART, MiB],
    ['one part and one byte', PART + 1, MiB],
  ])(
    'stores %s byte-identically and leaves nothing behind',
    async (name, size, fragment) => {
      const path = `/e2e/${name.replace(/\W+/g, '-')}.bin`;
      const file = randomBytes(size);
      const id = await upload(path, file, fragment);
      const key = `uploads${path}`;
      expect(sha256((await storedBytes(key)) ?? Buffer.alloc(0))).toBe(sha256(file));
      await expectNoLeftovers(id, key);
    },
    120_000,
  );

  it('stores a 0-byte file (Create-Session then Close-Session) as an empty object', async () => {
    const path = '/e2e/empty.bin';
    const id = await createSession(handler, path);
    expect((await sendPacket(handler, 'Close-Session', id, { path })).status).toBe(200);
    const head = await env.clients.s3.send(
      new HeadObjectCommand({ Bucket: env.bucketName, Key: `uploads${path}` }),
    );
    expect(head.ContentLength).toBe(0);
    await expectNoLeftovers(id, `uploads${path}`);
  });

  it('leaves nothing behind and no object after a Cancel-Session mid-way', async () => {
    const path = '/e2e/cancelled.bin';
    const file = randomBytes(12 * MiB);
    const id = await createSession(handler, path);
    for (let offset = 0; offset < 10 * MiB; offset += MiB) {
      await sendFragment(handler, id, offset, file.subarray(offset, offset + MiB), file.length, { path });
    }
    expect((await sendPacket(handler, 'Cancel-Session', id, { path })).status).toBe(200);
    expect(await storedBytes(`uploads${path}`)).toBeUndefined();
    await expectNoLeftovers(id, `uploads${path}`);
  }, 60_000);

  it('answers two concurrent invocations of the same fragment consistently and keeps the object exact', async () => {
    const path = '/e2e/raced.bin';
    const file = randomBytes(PART + 3 * MiB);
    const id = await createSession(handler, path);
    for (let offset = 0; offset < PART - MiB; offset += MiB) {
      await sendFragment(handler, id, offset, file.subarray(offset, offset + MiB), file.length, { path });
    }
    // This fragment completes part 1: both invocations read the staged chunks and upload the part.
    const first = PART - MiB;
    const body = file.subarray(first, first + MiB);
    const answers = await Promise.all([
      sendFragment(handler, id, first, body, file.length, { path }),
      sendFragment(handler, id, first, body, file.length, { path }),
    ]);
    for (const answer of answers) {
      expect([200, 416]).toContain(answer.status);
      expect(Number(answer.headers['bits-received-content-range'])).toBeLessThanOrEqual(PART);
    }
    expect(answers.some((answer) => answer.headers['bits-received-content-range'] === String(PART))).toBe(
      true,
    );
    for (let offset = PART; offset < file.length; offset += MiB) {
      await sendFragment(handler, id, offset, file.subarray(offset, offset + MiB), file.length, { path });
    }
    expect((await sendPacket(handler, 'Close-Session', id, { path })).status).toBe(200);
    expect(sha256((await storedBytes(`uploads${path}`)) ?? Buffer.alloc(0))).toBe(sha256(file));
    await expectNoLeftovers(id, `uploads${path}`);
  }, 60_000);
});
