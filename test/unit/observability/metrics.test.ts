import { randomBytes } from 'node:crypto';
import { type BitsLambdaHandler, createHandler } from '../../../lambda/create-handler';
import { BitsMetrics, METRICS, METRICS_NAMESPACE } from '../../../lambda/observability/metrics';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { makeTestBed, type TestBed } from '../../helpers/test-deps';
import { asLambda, captureOutput, type EmfRecord, emfRecords, type OutputCapture } from './capture';

const MiB = 1024 * 1024;
const REQUEST_DIMENSIONS = [['service', 'PacketType', 'Status'], ['service']];
const ERROR_DIMENSIONS = [['service', 'ErrorName'], ['service']];
const UNKNOWN_SESSION = '{00000000-0000-4000-8000-000000000000}';

let bed: TestBed;
let handler: BitsLambdaHandler;
let out: OutputCapture;

/** The real handler on in-memory ports, with metrics, invoked as Lambda invokes it. */
function setUp(overrides: Parameters<typeof makeTestBed>[0] = {}): void {
  bed = makeTestBed({ partSize: String(5 * MiB), ...overrides });
  handler = asLambda(createHandler({ ...bed.deps, metrics: new BitsMetrics() }));
}

const records = (): EmfRecord[] => emfRecords(out.json());
/** The one line per request: the records carrying `Requests`. */
const requestRecords = () => records().filter((record) => 'Requests' in record.units);
const errorRecords = () => records().filter((record) => 'BitsErrors' in record.units);
const lastRequest = (): EmfRecord => {
  const found = requestRecords().at(-1);
  if (found === undefined) throw new Error('no request metrics were published');
  return found;
};

/** The metrics of a request line other than the four every request carries. */
const recordedByHandlers = (record: EmfRecord) =>
  Object.fromEntries(
    Object.keys(record.units)
      .filter((name) => !['Requests', 'Latency', 'BytesReceived', 'FragmentBytes'].includes(name))
      .map((name) => [name, record.values[name]]),
  );

beforeEach(() => {
  out = captureOutput();
});
afterEach(() => {
  out.restore();
  // Powertools warns on stderr (dimension collisions, invalid values, empty flushes): none expected.
  expect(out.stderr()).toBe('');
});

describe('EMF metrics of handler runs', () => {
  it('publishes one line per request of a full upload, with namespace, units and dimension sets', async () => {
    setUp();
    const clock = bed.clock;
    const create = bed.uploads.createMultipartUpload.bind(bed.uploads);
    jest.spyOn(bed.uploads, 'createMultipartUpload').mockImplementation(async (...args) => {
      clock.advance(0.007);
      return create(...args);
    });
    const total = 12 * MiB;
    const file = randomBytes(total);

    const id = await createSession(handler);
    for (let offset = 0; offset < total; offset += 4 * MiB) {
      const answer = await sendFragment(handler, id, offset, file.subarray(offset, offset + 4 * MiB), total);
      expect(answer.status).toBe(200);
    }
    expect((await sendPacket(handler, 'Close-Session', id)).status).toBe(200);

    const lines = requestRecords();
    expect(lines.map((line) => [line.values.PacketType, line.values.Status])).toEqual([
      ['create-session', '200'],
      ['fragment', '200'],
      ['fragment', '200'],
      ['fragment', '200'],
      ['close-session', '200'],
    ]);
    for (const line of lines) {
      expect(line.namespace).toBe(METRICS_NAMESPACE);
      expect(line.values.service).toBe('bits-upload');
      expect(line.dimensionSets).toEqual(REQUEST_DIMENSIONS);
      expect(line.units).toMatchObject({
        Requests: 'Count',
        Latency: 'Milliseconds',
        BytesReceived: 'Bytes',
      });
      expect(line.values.Requests).toBe(1);
    }
    const [created, first, second, third, closed] = lines as [EmfRecord, ...EmfRecord[]];
    expect(created.values.Latency).toBe(7);
    expect(created.units.FragmentBytes).toBeUndefined();
    // 5 MiB parts: the first fragment is staged, the second fills part 1 (merging the staged chunk),
    // the third completes parts 2 and 3.
    expect(first?.units).toMatchObject({
      FragmentBytes: 'Bytes',
      StagedBytes: 'Bytes',
      BytesCommitted: 'Bytes',
    });
    expect(recordedByHandlers(first as EmfRecord)).toEqual({ StagedBytes: 4 * MiB, BytesCommitted: 4 * MiB });
    expect(first?.values).toMatchObject({ FragmentBytes: 4 * MiB, BytesReceived: 4 * MiB });
    expect(recordedByHandlers(second as EmfRecord)).toEqual({
      PartsUploaded: 1,
      StagedBytes: 3 * MiB,
      MergedChunks: 1,
      BytesCommitted: 4 * MiB,
    });
    expect(recordedByHandlers(third as EmfRecord)).toEqual({
      PartsUploaded: 2,
      MergedChunks: 1,
      BytesCommitted: 4 * MiB,
    });
    expect(closed?.units).toMatchObject({ UploadsCompleted: 'Count', UploadBytes: 'Bytes' });
    expect(recordedByHandlers(closed as EmfRecord)).toEqual({ UploadsCompleted: 1, UploadBytes: total });
    expect(errorRecords()).toEqual([]);
  });

  it('counts a cold start once, with the function name, in an on-demand environment', async () => {
    // Powertools reads the initialisation type when the Metrics instance is built.
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
    try {
      setUp();
    } finally {
      delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
    }
    await sendPacket(handler, 'Ping');
    await sendPacket(handler, 'Ping');

    const coldStarts = records().filter((record) => 'ColdStart' in record.units);
    expect(coldStarts).toHaveLength(1);
    expect(coldStarts[0]?.values).toMatchObject({ ColdStart: 1, function_name: 'bits-upload-function' });
    expect(requestRecords()).toHaveLength(2);
  });

  it('answers 416 under Status 416 with no BITS error and nothing committed', async () => {
    setUp();
    const id = await createSession(handler);

    const answer = await sendFragment(handler, id, 100, randomBytes(50), 1000);

    expect(answer.status).toBe(416);
    expect(lastRequest().values).toMatchObject({ PacketType: 'fragment', Status: '416', FragmentBytes: 50 });
    expect(recordedByHandlers(lastRequest())).toEqual({});
    expect(errorRecords()).toEqual([]);
  });

  it('counts a 413 as BitsErrors with ErrorName FRAGMENT_TOO_LARGE, keeping its fragment size', async () => {
    setUp({ maxFragmentSize: '1024' });
    const id = await createSession(handler);

    const answer = await sendFragment(handler, id, 0, randomBytes(2048), 4096);

    expect(answer.status).toBe(413);
    expect(lastRequest().values).toMatchObject({
      PacketType: 'fragment',
      Status: '413',
      FragmentBytes: 2048,
    });
    const [error, ...more] = errorRecords();
    expect(more).toEqual([]);
    expect(error?.namespace).toBe(METRICS_NAMESPACE);
    expect(error?.dimensionSets).toEqual(ERROR_DIMENSIONS);
    expect(error?.units).toEqual({ BitsErrors: 'Count' });
    expect(error?.values).toEqual({
      _aws: expect.anything(),
      BitsErrors: 1,
      ErrorName: 'FRAGMENT_TOO_LARGE',
      service: 'bits-upload',
    });
  });

  it('counts an unknown session as SESSION_NOT_FOUND under Status 500', async () => {
    setUp();

    const answer = await sendFragment(handler, UNKNOWN_SESSION, 0, randomBytes(10), 10);

    expect(answer.status).toBe(500);
    expect(lastRequest().values).toMatchObject({ PacketType: 'fragment', Status: '500' });
    expect(errorRecords().map((record) => record.values.ErrorName)).toEqual(['SESSION_NOT_FOUND']);
  });

  it('counts a Cancel-Session of an open session once, and a repeated one not again', async () => {
    setUp();
    const id = await createSession(handler);
    await sendFragment(handler, id, 0, randomBytes(100), 1000);

    expect((await sendPacket(handler, 'Cancel-Session', id)).status).toBe(200);
    const cancelled = lastRequest();
    expect((await sendPacket(handler, 'Cancel-Session', id)).status).toBe(200);

    expect(cancelled.values).toMatchObject({ PacketType: 'cancel-session', Status: '200' });
    expect(cancelled.units.UploadsCancelled).toBe('Count');
    expect(recordedByHandlers(cancelled)).toEqual({ UploadsCancelled: 1 });
    expect(recordedByHandlers(lastRequest())).toEqual({});
  });

  it('counts an incomplete Close-Session as a discarded upload', async () => {
    setUp();
    const id = await createSession(handler);
    await sendFragment(handler, id, 0, randomBytes(100), 1000);

    expect((await sendPacket(handler, 'Close-Session', id)).status).toBe(400);

    expect(recordedByHandlers(lastRequest())).toEqual({ UploadsDiscarded: 1 });
    expect(errorRecords().map((record) => record.values.ErrorName)).toEqual(['INVALID_ARGUMENT']);
  });

  it('keeps PacketType low-cardinality: a made-up packet type is "unknown"', async () => {
    setUp();

    await sendPacket(handler, `Made-Up-${randomBytes(8).toString('hex')}`);

    expect(lastRequest().values).toMatchObject({ PacketType: 'unknown', Status: '400' });
    expect(errorRecords()[0]?.values.ErrorName).toBe('INVALID_ARGUMENT');
  });

  it('never puts a session id, key or principal into a metric line', async () => {
    setUp();
    const id = await createSession(handler);
    await sendFragment(handler, id, 0, randomBytes(100), 100, { principal: 'someone' });
    await sendPacket(handler, 'Close-Session', id);

    const published = JSON.stringify(records());
    expect(published).not.toContain(id.slice(1, -1).toLowerCase());
    expect(published).not.toContain(id.slice(1, -1));
    expect(published).not.toContain('a.bin');
    expect(published).not.toContain('someone');
  });

  it('keeps concurrent requests apart: each line carries only its own handler metrics', async () => {
    setUp();
    const cancelled = await createSession(handler, '/up/one.bin');
    const uploading = await createSession(handler, '/up/two.bin');
    const before = requestRecords().length;

    await Promise.all([
      sendPacket(handler, 'Cancel-Session', cancelled),
      sendFragment(handler, uploading, 0, randomBytes(1000), 5000),
      sendPacket(handler, 'Ping'),
    ]);

    const lines = requestRecords().slice(before);
    const byType = Object.fromEntries(
      lines.map((line) => [line.values.PacketType, recordedByHandlers(line)]),
    );
    expect(byType).toEqual({
      'cancel-session': { UploadsCancelled: 1 },
      fragment: { StagedBytes: 1000, BytesCommitted: 1000 },
      ping: {},
    });
  });

  it('publishes nothing without a Lambda context (local server, tests) or without metrics', async () => {
    bed = makeTestBed();
    const withMetrics = createHandler({ ...bed.deps, metrics: new BitsMetrics() });
    const id = await createSession(withMetrics);
    await sendFragment(withMetrics, id, 0, randomBytes(10), 10);
    await sendPacket(asLambda(bed.handler), 'Close-Session', id);

    expect(records()).toEqual([]);
  });

  it('gives every metric the unit of the METRICS table', async () => {
    setUp({ maxFragmentSize: '1024' });
    const id = await createSession(handler);
    await sendFragment(handler, id, 0, randomBytes(100), 100);
    await sendPacket(handler, 'Close-Session', id);
    await sendFragment(handler, id, 0, randomBytes(2000), 2000);

    const seen = records().flatMap((record) => Object.entries(record.units));
    for (const [name, unit] of seen) {
      if (name === 'ColdStart') continue;
      expect([name, unit]).toEqual([name, METRICS[name as keyof typeof METRICS]]);
    }
    expect(new Set(seen.map(([name]) => name)).size).toBeGreaterThan(8);
  });
});
