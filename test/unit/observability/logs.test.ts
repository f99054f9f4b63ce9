import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { type BitsLambdaHandler, createHandler } from '../../../lambda/create-handler';
import { BitsMetrics } from '../../../lambda/observability/metrics';
import { sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { makeTestBed, type TestBed } from '../../helpers/test-deps';
import { asLambda, captureOutput, lambdaContext, logRecords, type OutputCapture } from './capture';

/** Recognisable bytes: neither they nor their base64 (the event's encoding) may reach the output. */
const BODY_MARKER = Buffer.from('BODY-MARKER-a7c3f09e-do-not-log');
const BASIC_CREDENTIALS = Buffer.from('operator:pa55-secret-word').toString('base64');
const AUTHORIZATION = `Basic ${BASIC_CREDENTIALS}`;
const PRINCIPAL = 'arn:aws:iam::123456789012:user/uploader';

let bed: TestBed;
let handler: BitsLambdaHandler;
let out: OutputCapture;

beforeEach(() => {
  out = captureOutput();
  // Built inside the capture: Powertools binds its console to process.stdout at construction.
  bed = makeTestBed(
    { maxFragmentSize: '4096' },
    new Logger({ serviceName: 'bits-upload', logLevel: 'DEBUG' }),
  );
  handler = asLambda(createHandler({ ...bed.deps, metrics: new BitsMetrics() }));
});
afterEach(() => out.restore());

const withSecrets = { principal: PRINCIPAL, headers: { Authorization: AUTHORIZATION } };

async function createOwnSession(): Promise<string> {
  const answer = await send(handler, {
    principal: PRINCIPAL,
    headers: {
      Authorization: AUTHORIZATION,
      'BITS-Packet-Type': 'Create-Session',
      'BITS-Supported-Protocols': BITS_PROTOCOL,
    },
  });
  const id = answer.headers['bits-session-id'];
  if (id === undefined) throw new Error(`Create-Session answered ${answer.status}`);
  return id;
}

/** Create, a fragment, a gap (416), a too-large fragment (413), an unknown session, Close. */
async function runUploadWithMishaps(): Promise<string> {
  const body = Buffer.concat([BODY_MARKER, randomBytes(64)]);
  const id = await createOwnSession();
  await sendFragment(handler, id, 0, body, body.length * 2, withSecrets);
  await sendFragment(handler, id, body.length + 10, body.subarray(0, 10), body.length * 2, withSecrets);
  await sendFragment(handler, id, 0, Buffer.concat([BODY_MARKER, randomBytes(5000)]), 6000, withSecrets);
  await sendFragment(handler, '{00000000-0000-4000-8000-000000000000}', 0, body, body.length, withSecrets);
  await sendFragment(handler, id, body.length, body, body.length * 2, withSecrets);
  await sendPacket(handler, 'Close-Session', id, withSecrets);
  return id;
}

describe('structured request logs', () => {
  it('writes exactly one log line per request, even at DEBUG', async () => {
    await runUploadWithMishaps();

    const logs = logRecords(out.json());
    expect(logs.map((line) => [line.level, line.status])).toEqual([
      ['INFO', 200],
      ['INFO', 200],
      ['INFO', 416],
      ['WARN', 413],
      ['WARN', 500],
      ['INFO', 200],
      ['INFO', 200],
    ]);
  });

  it('carries packet type, session id, principal, range, status, error, latency and the Lambda request id', async () => {
    const id = await runUploadWithMishaps();

    const logs = logRecords(out.json());
    expect(logs[1]).toMatchObject({
      message: 'ack',
      service: 'bits-upload',
      packetType: 'Fragment',
      sessionId: id,
      principal: PRINCIPAL,
      range: expect.stringMatching(/^bytes 0-\d+\/\d+$/),
      bodyBytes: BODY_MARKER.length + 64,
      status: 200,
      latencyMs: expect.any(Number),
      function_request_id: 'req-2',
      function_name: 'bits-upload-function',
    });
    expect(logs[3]).toMatchObject({
      level: 'WARN',
      packetType: 'Fragment',
      sessionId: id,
      status: 413,
      error: 'FRAGMENT_TOO_LARGE',
      latencyMs: expect.any(Number),
      function_request_id: 'req-4',
    });
    expect(logs[4]).toMatchObject({ status: 500, error: 'SESSION_NOT_FOUND', function_request_id: 'req-5' });
  });

  it('never logs request bodies or credentials', async () => {
    await runUploadWithMishaps();

    const written = out.text();
    expect(written.length).toBeGreaterThan(1000);
    for (const secret of [
      BODY_MARKER.toString('utf8'),
      BODY_MARKER.toString('base64').slice(0, 24),
      AUTHORIZATION,
      BASIC_CREDENTIALS,
      'pa55-secret-word',
    ]) {
      expect(written).not.toContain(secret);
    }
  });

  it('logs an unexpected fault with its stack but without the body, and still one line', async () => {
    jest.spyOn(bed.uploads, 'putStagedChunk').mockRejectedValue(new Error('disk on fire'));
    const id = await createOwnSession();
    const before = logRecords(out.json()).length;

    const answer = await sendFragment(handler, id, 0, BODY_MARKER, 100, withSecrets);

    expect(answer.status).toBe(500);
    const logs = logRecords(out.json()).slice(before);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'ERROR', message: 'unexpected error', error: 'INTERNAL' });
    expect(JSON.stringify(logs[0])).toContain('disk on fire');
    expect(out.text()).not.toContain(BODY_MARKER.toString('utf8'));
    expect(out.text()).not.toContain(BASIC_CREDENTIALS);
  });

  it('logs an event from an unknown front with status, error and latency', async () => {
    await createHandler(bed.deps)({ something: 'else' }, lambdaContext('req-odd'));

    expect(logRecords(out.json())).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'event is not from API Gateway or ALB',
        status: 500,
        error: 'INTERNAL',
        latencyMs: 0,
        function_request_id: 'req-odd',
      }),
    ]);
  });
});
