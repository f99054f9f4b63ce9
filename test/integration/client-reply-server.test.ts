import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { uploadFile } from '../../client/upload';
import type { LocalServer, LocalServerOptions } from '../../local/local-server';
import {
  EXAMPLE_FUNCTION_NAME,
  type ExampleApplication,
  exampleNotificationFunction,
  exampleReply,
  startExampleApplication,
} from '../../local/notify-example';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import { startTestServer } from '../helpers/local-server-env';
import type { ConfigOverrides } from '../helpers/test-deps';

/**
 * Our client's upload-reply jobs against our server: the local server on the emulators, notifying
 * the example application, and `uploadFile` with the `reply` option, as `bits-upload --reply-file`
 * runs it.
 */

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let env: AwsTestEnv;
let dir: string;
const servers: LocalServer[] = [];
let application: ExampleApplication | undefined;

beforeAll(async () => {
  env = await createAwsTestEnv('client-reply-server');
  dir = await mkdtemp(join(tmpdir(), 'client-reply-server-'));
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await application?.stop();
  await env.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function serve(overrides: ConfigOverrides, extra: Partial<LocalServerOptions> = {}) {
  const server = await startTestServer(env, overrides, extra);
  servers.push(server);
  return server;
}

async function object(key: string): Promise<Buffer> {
  const got = await env.clients.s3.send(new GetObjectCommand({ Bucket: env.bucketName, Key: key }));
  return Buffer.from((await got.Body?.transformToByteArray()) ?? []);
}

async function replyKeys(sessionId: string): Promise<string[]> {
  const listed = await env.clients.s3.send(
    new ListObjectsV2Command({ Bucket: env.bucketName, Prefix: `bits-replies/${sessionId}/` }),
  );
  return (listed.Contents ?? []).map((entry) => entry.Key ?? '');
}

async function source(name: string, size: number): Promise<{ path: string; data: Buffer }> {
  const data = randomBytes(size);
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, data };
}

describe('bits-upload reply jobs against the server', () => {
  it('by reference to an HTTP application: the reply file holds what the application wrote', async () => {
    application = await startExampleApplication();
    const server = await serve({ notificationType: 'by-reference', notificationUrl: application.url });
    const { path, data } = await source('report.bin', 3 * MiB + 17);
    const replyFile = join(dir, 'report.reply');

    const result = await uploadFile({
      url: `${server.url}/reports/report.bin`,
      file: path,
      fragmentSize: MiB,
      reply: { file: replyFile },
    });

    expect(sha256(await object('uploads/reports/report.bin'))).toBe(sha256(data));
    const expected = exampleReply({ sessionId: result.sessionId, size: data.length, sha256: sha256(data) });
    const reply = await readFile(replyFile);
    expect(reply.equals(expected)).toBe(true);
    expect(result.reply).toMatchObject({ bytes: expected.length, sha256: sha256(expected) });
    expect(application.received).toHaveLength(1);
    // Close-Session came after the download and deleted the reply.
    expect(await replyKeys(result.sessionId)).toEqual([]);
  }, 60_000);

  it('by value to a Lambda-style function, in 5 KB fragments with a small reply range size', async () => {
    const example = exampleNotificationFunction((upload) => Buffer.alloc(50_000, upload.sha256));
    const server = await serve(
      { notificationType: 'by-value', notificationFunction: EXAMPLE_FUNCTION_NAME },
      { notificationFunction: example },
    );
    const { path, data } = await source('small.bin', 40_000);
    const replyFile = join(dir, 'small.reply');

    const result = await uploadFile({
      url: `${server.url}/small.bin`,
      file: path,
      fragmentSize: 5 * 1024,
      reply: { file: replyFile, rangeSize: 16_384 },
    });

    expect(sha256(await object('uploads/small.bin'))).toBe(sha256(data));
    expect((await readFile(replyFile)).equals(Buffer.alloc(50_000, sha256(data)))).toBe(true);
    expect(result.reply?.requests).toBeGreaterThanOrEqual(4);
    expect(example.events).toHaveLength(1);
    expect(await replyKeys(result.sessionId)).toEqual([]);
  }, 60_000);
});
