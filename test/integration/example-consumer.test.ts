/**
 * Acceptance: an S3 "Object Created" event shaped as EventBridge delivers it
 * (test/fixtures/s3-events/object-created.json) for an object uploaded through the real handler
 * on the emulators, fed to the example consumer (consumers/example/) with a real S3 client against
 * fauxqs. The consumer must find the session's metadata and log it in one line.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createUploadConsumer, type ObjectCreatedEvent } from '../../consumers/example/handler';
import { composeDeps } from '../../lambda/compose';
import { type BitsLambdaHandler, createHandler } from '../../lambda/create-handler';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import { sendFragment, sendPacket } from '../helpers/bits-client-steps';
import { BITS_PROTOCOL, send } from '../helpers/events';
import { testConfig } from '../helpers/test-deps';
import { captureOutput, logRecords, type OutputCapture } from '../unit/observability/capture';

const MiB = 1024 * 1024;
const FIXTURE = join(__dirname, '..', 'fixtures', 's3-events', 'object-created.json');

/** What an upstream authorizer established, with a character the server has to escape in metadata. */
const PRINCIPAL = 'CORP\\jürgen';
/** Percent-encoded as a client sends it: the key is `uploads/reports/2026/Q3 Übersicht.pdf`. */
const PATH = '/reports/2026/Q3%20%C3%9Cbersicht.pdf';
/** Non-ASCII, a literal `%` and a space, which metadata must carry back faithfully. */
const CONTENT_NAME = 'Q3 – 50% Übersicht.pdf';

interface Uploaded {
  readonly sessionId: string;
  readonly key: string;
  readonly size: number;
  /** As S3 puts it in the event: without quotes. */
  readonly etag: string;
  readonly createdBetween: readonly [number, number];
}

let env: AwsTestEnv;
let handler: BitsLambdaHandler;
let out: OutputCapture | undefined;

beforeAll(async () => {
  env = await createAwsTestEnv('consumer');
  const config = testConfig({
    tableName: env.tableName,
    bucketName: env.bucketName,
    partSize: String(5 * MiB),
    authMode: 'upstream',
  });
  handler = createHandler(composeDeps(config, env.clients, new Logger({ logLevel: 'SILENT' })));
});
afterAll(async () => env.destroy());
afterEach(() => out?.restore());

/** Create-Session, 1 MiB fragments, Close-Session, as a BITS client behind an authorizer would send them. */
async function upload(path: string, file: Buffer): Promise<Uploaded> {
  const caller = { path, principal: PRINCIPAL };
  const before = Date.now();
  const created = await send(handler, {
    ...caller,
    headers: {
      'BITS-Packet-Type': 'Create-Session',
      'BITS-Supported-Protocols': BITS_PROTOCOL,
      'Content-Name': CONTENT_NAME,
    },
  });
  const after = Date.now();
  const sessionId = created.headers['bits-session-id'];
  if (created.status !== 200 || sessionId === undefined) {
    throw new Error(`Create-Session answered ${created.status}`);
  }
  for (let offset = 0; offset < file.length; offset += MiB) {
    const answer = await sendFragment(
      handler,
      sessionId,
      offset,
      file.subarray(offset, offset + MiB),
      file.length,
      caller,
    );
    expect(answer.status).toBe(200);
  }
  // Windows sends Content-Name on Close-Session too (RX-1); a 0-byte object takes it from there.
  const close = { ...caller, headers: { 'Content-Name': CONTENT_NAME } };
  expect((await sendPacket(handler, 'Close-Session', sessionId, close)).status).toBe(200);
  const key = `uploads/${decodeURIComponent(path.slice(1))}`;
  const head = await env.clients.s3.send(new HeadObjectCommand({ Bucket: env.bucketName, Key: key }));
  return {
    sessionId,
    key,
    size: head.ContentLength ?? -1,
    etag: (head.ETag ?? '').replaceAll('"', ''),
    createdBetween: [before, after],
  };
}

/** The recorded event with this object's bucket, key, size, ETag and reason, sent "now". */
function objectCreatedEvent(uploaded: Uploaded, reason: string): ObjectCreatedEvent {
  const event = JSON.parse(readFileSync(FIXTURE, 'utf8')) as ObjectCreatedEvent;
  return {
    ...event,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    resources: [`arn:aws:s3:::${env.bucketName}`],
    detail: {
      ...event.detail,
      bucket: { name: env.bucketName },
      object: { ...event.detail.object, key: uploaded.key, size: uploaded.size, etag: uploaded.etag },
      reason,
    },
  };
}

/** The consumer with a real S3 client on fauxqs and a logger whose output the test reads. */
function consumer() {
  out = captureOutput();
  // Built inside the capture: Powertools binds its console to process.stdout at construction.
  const logger = new Logger({ serviceName: 'bits-upload-consumer', logLevel: 'INFO' });
  return { consume: createUploadConsumer({ s3: env.clients.s3, logger }), capture: out };
}

const linesWith = (capture: OutputCapture, message: string) =>
  logRecords(capture.json()).filter((line) => line.message === message);

describe('the example consumer on an object uploaded through the handler', () => {
  it('logs one summary with the session id, principal, original path, content name, created-at and size', async () => {
    const file = randomBytes(6 * MiB + 100);
    const uploaded = await upload(PATH, file);
    const event = objectCreatedEvent(uploaded, 'CompleteMultipartUpload');
    const { consume, capture } = consumer();

    const summary = await consume(event);

    const lines = linesWith(capture, 'upload finished');
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({
      level: 'INFO',
      service: 'bits-upload-consumer',
      bucket: env.bucketName,
      key: 'uploads/reports/2026/Q3 Übersicht.pdf',
      size: file.length,
      etag: uploaded.etag,
      reason: 'CompleteMultipartUpload',
      sessionId: uploaded.sessionId,
      principal: PRINCIPAL,
      originalPath: PATH,
      contentName: CONTENT_NAME,
      completedAt: event.time,
    });
    const createdAt = Date.parse(String(line?.createdAt));
    expect(line?.createdAt).toBe(new Date(createdAt).toISOString());
    expect(createdAt).toBeGreaterThanOrEqual(uploaded.createdBetween[0]);
    expect(createdAt).toBeLessThanOrEqual(uploaded.createdBetween[1]);
    expect(summary).toEqual(expect.objectContaining({ sessionId: uploaded.sessionId, size: file.length }));
  }, 60_000);

  it('handles the PutObject event of a 0-byte upload with the same metadata (Create-Session then Close-Session)', async () => {
    const uploaded = await upload('/reports/empty.txt', Buffer.alloc(0));
    const { consume, capture } = consumer();

    await consume(objectCreatedEvent(uploaded, 'PutObject'));

    const lines = linesWith(capture, 'upload finished');
    expect(lines).toEqual([
      expect.objectContaining({
        key: 'uploads/reports/empty.txt',
        size: 0,
        reason: 'PutObject',
        sessionId: uploaded.sessionId,
        principal: PRINCIPAL,
        originalPath: '/reports/empty.txt',
        contentName: CONTENT_NAME,
      }),
    ]);
    const createdAt = Date.parse(String(lines[0]?.createdAt));
    expect(createdAt).toBeGreaterThanOrEqual(uploaded.createdBetween[0]);
    expect(createdAt).toBeLessThanOrEqual(uploaded.createdBetween[1]);
  });

  it('logs nothing about an object replaced since the event (its own event describes the new one)', async () => {
    const uploaded = await upload('/reports/replaced.bin', randomBytes(1000));
    await env.clients.s3.send(
      new PutObjectCommand({ Bucket: env.bucketName, Key: uploaded.key, Body: randomBytes(10) }),
    );
    const { consume, capture } = consumer();

    expect(await consume(objectCreatedEvent(uploaded, 'CompleteMultipartUpload'))).toBeUndefined();

    expect(linesWith(capture, 'upload finished')).toEqual([]);
    expect(linesWith(capture, 'object replaced since this event; its own event follows')).toHaveLength(1);
  });

  it('warns and succeeds when the object was deleted before the event arrived (no retry would help)', async () => {
    const uploaded = await upload('/reports/deleted.bin', randomBytes(1000));
    await env.clients.s3.send(new DeleteObjectCommand({ Bucket: env.bucketName, Key: uploaded.key }));
    const { consume, capture } = consumer();

    expect(await consume(objectCreatedEvent(uploaded, 'CompleteMultipartUpload'))).toBeUndefined();

    expect(linesWith(capture, 'object deleted before it was read; nothing to do')).toEqual([
      expect.objectContaining({ level: 'WARN', key: uploaded.key }),
    ]);
  });

  it('fails on an event that is not S3 Object Created, so a misrouted event ends in the dead-letter queue', async () => {
    const uploaded = await upload('/reports/other.bin', randomBytes(10));
    const event = objectCreatedEvent(uploaded, 'CompleteMultipartUpload');
    const { consume } = consumer();

    await expect(
      consume({ ...event, 'detail-type': 'Object Deleted' } as unknown as ObjectCreatedEvent),
    ).rejects.toThrow(TypeError);
  });
});
