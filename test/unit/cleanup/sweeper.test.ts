import { Logger } from '@aws-lambda-powertools/logger';
import type { ExpiredSessionSource } from '../../../lambda/cleanup/expired-sessions';
import { SWEEP_METRICS, SweepMetrics } from '../../../lambda/cleanup/sweep-metrics';
import {
  createSweeper,
  DEFAULT_SWEEPER_OPTIONS,
  type SweeperOptions,
  SweepIncompleteError,
} from '../../../lambda/cleanup/sweeper';
import { loadSweeperSettings, SWEEPER_ENV } from '../../../lambda/cleanup/sweeper-config';
import { ConfigError } from '../../../lambda/config';
import type { HandlerDeps } from '../../../lambda/handlers/types';
import type { MultipartUpload } from '../../../lambda/ports/upload-store';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { makeTestBed, type TestBed } from '../../helpers/test-deps';
import { captureOutput, type EmfRecord, emfRecords, type OutputCapture } from '../observability/capture';

const KiB = 1024;
const MiB = 1024 * KiB;
const TIMEOUT_SECONDS = 3600;
const TOMBSTONE_SECONDS = 86_400;
const GRACE_SECONDS = 300;
const options: SweeperOptions = { ...DEFAULT_SWEEPER_OPTIONS, graceSeconds: GRACE_SECONDS };

/** Candidates as a scan would return them: every id given, in pages of `pageSize`. */
function listedSource(
  ids: () => readonly string[] | Promise<readonly string[]>,
  pageSize = 2,
): ExpiredSessionSource & { cutoffs: number[]; forgotten: string[] } {
  const cutoffs: number[] = [];
  const forgotten: string[] = [];
  return {
    cutoffs,
    forgotten,
    async forget(session) {
      forgotten.push(session.id);
    },
    async *pages(cutoff: number) {
      cutoffs.push(cutoff);
      const all = await ids();
      for (let index = 0; index < all.length; index += pageSize) yield all.slice(index, index + pageSize);
    },
  };
}

/** An upload with one 5 MiB part and a staged chunk: everything a session can hold. */
async function sessionWithStorage(bed: TestBed, path = '/up/a.bin'): Promise<string> {
  const id = await createSession(bed.handler, path);
  const file = Buffer.alloc(5 * MiB + 300 * KiB, 7);
  expect((await sendFragment(bed.handler, id, 0, file.subarray(0, 3 * MiB), file.length)).status).toBe(200);
  expect(
    (await sendFragment(bed.handler, id, 3 * MiB, file.subarray(3 * MiB, 5 * MiB + 100 * KiB), file.length))
      .status,
  ).toBe(200);
  return id;
}

const stagedKeys = (bed: TestBed) => bed.uploads.keysUnder('bits-staging/');

function newBed(): TestBed {
  return makeTestBed({
    partSize: String(5 * MiB),
    sessionTimeoutSeconds: String(TIMEOUT_SECONDS),
    tombstoneSeconds: String(TOMBSTONE_SECONDS),
  });
}

describe('the abandoned-session sweeper', () => {
  it('releases an expired session like Cancel-Session does: upload aborted, chunks and parts deleted, cancelled', async () => {
    const bed = newBed();
    const id = await sessionWithStorage(bed);
    expect(stagedKeys(bed)).not.toEqual([]);
    expect(bed.sessions.partCount(id)).toBe(1);
    expect(bed.uploads.uploads.size).toBe(1);

    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const report = await createSweeper(
      bed.deps,
      listedSource(() => [id]),
      options,
    )();

    expect(report).toMatchObject({ candidates: 1, discarded: 1, skipped: 0, failed: 0, complete: true });
    expect(stagedKeys(bed)).toEqual([]);
    expect(bed.sessions.partCount(id)).toBe(0);
    expect(bed.uploads.uploads.size).toBe(0);
    expect((await bed.sessions.getSession(id))?.state).toBe('cancelled');
  });

  it('waits out the grace period after expiry, so no invocation that loaded the session can still write', async () => {
    const bed = newBed();
    const id = await sessionWithStorage(bed);
    const source = listedSource(() => [id]);
    const sweep = createSweeper(bed.deps, source, options);

    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS - 1);
    expect(await sweep()).toMatchObject({ discarded: 0, skipped: 1 });
    expect((await bed.sessions.getSession(id))?.state).toBe('open');
    expect(bed.uploads.uploads.size).toBe(1);

    bed.clock.advance(1);
    expect(await sweep()).toMatchObject({ discarded: 1 });
    // The scan is asked for sessions expired before now minus the grace period.
    expect(source.cutoffs).toEqual([
      bed.clock.ms - 1000 - GRACE_SECONDS * 1000,
      bed.clock.ms - GRACE_SECONDS * 1000,
    ]);
  });

  it('leaves open unexpired, closed and cancelled sessions alone even when a stale scan lists them', async () => {
    const bed = newBed();
    const live = await sessionWithStorage(bed, '/up/live.bin');
    const closed = await createSession(bed.handler, '/up/closed.bin');
    const file = Buffer.from('hello');
    expect((await sendFragment(bed.handler, closed, 0, file, file.length)).status).toBe(200);
    expect((await sendPacket(bed.handler, 'Close-Session', closed)).status).toBe(200);
    const cancelled = await createSession(bed.handler, '/up/cancelled.bin');
    expect((await sendPacket(bed.handler, 'Cancel-Session', cancelled)).status).toBe(200);
    bed.clock.advance(60);

    const report = await createSweeper(
      bed.deps,
      listedSource(() => [live, closed, cancelled, '{unknown}']),
      options,
    )();

    expect(report).toMatchObject({
      candidates: 4,
      discarded: 0,
      forgotten: 0,
      skipped: 4,
      failed: 0,
      complete: true,
    });
    expect((await bed.sessions.getSession(live))?.state).toBe('open');
    expect(bed.sessions.partCount(live)).toBe(1);
    expect(stagedKeys(bed)).not.toEqual([]);
    expect(bed.uploads.objects.get('uploads/up/closed.bin')?.body.toString()).toBe('hello');
    // The live session still takes fragments.
    const rest = Buffer.alloc(200 * KiB, 7);
    expect(
      (await sendFragment(bed.handler, live, 5 * MiB + 100 * KiB, rest, 5 * MiB + 300 * KiB)).status,
    ).toBe(200);
  });

  it('removes what a Cancel that died half-way left behind once its tombstone expires, then forgets the record', async () => {
    const bed = newBed();
    const id = await sessionWithStorage(bed);
    const session = await bed.sessions.getSession(id);
    if (session === undefined) throw new Error('no session');
    // Cancel-Session aborted the upload and recorded the cancellation, then died before deleting.
    await bed.deps.uploads.abortMultipartUpload({ key: session.key, uploadId: session.uploadId });
    await bed.sessions.finishSession(id, 'cancelled', bed.clock.ms + TOMBSTONE_SECONDS * 1000);
    const source = listedSource(() => [id]);
    const sweep = createSweeper(bed.deps, source, options);

    bed.clock.advance(TOMBSTONE_SECONDS + GRACE_SECONDS - 1);
    expect(await sweep()).toMatchObject({ forgotten: 0, skipped: 1 });
    expect(bed.sessions.partCount(id)).toBe(1);

    bed.clock.advance(1);
    expect(await sweep()).toMatchObject({ discarded: 0, forgotten: 1, failed: 0 });
    expect(stagedKeys(bed)).toEqual([]);
    expect(bed.sessions.partCount(id)).toBe(0);
    expect(source.forgotten).toEqual([id]);
  });

  it('forgets an expired closed tombstone without touching its object', async () => {
    const bed = newBed();
    const id = await createSession(bed.handler, '/up/done.bin');
    const file = Buffer.from('done');
    expect((await sendFragment(bed.handler, id, 0, file, file.length)).status).toBe(200);
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    bed.clock.advance(TOMBSTONE_SECONDS + GRACE_SECONDS);
    const source = listedSource(() => [id]);

    expect(await createSweeper(bed.deps, source, options)()).toMatchObject({ forgotten: 1, failed: 0 });
    expect(source.forgotten).toEqual([id]);
    expect(bed.uploads.objects.get('uploads/up/done.bin')?.body.toString()).toBe('done');
  });

  it('records a closing session whose Complete went through as closed and keeps its object', async () => {
    const bed = newBed();
    const id = await createSession(bed.handler, '/up/sealed.bin');
    const file = Buffer.from('sealed bytes');
    expect((await sendFragment(bed.handler, id, 0, file, file.length)).status).toBe(200);
    const session = await bed.sessions.getSession(id);
    if (session === undefined) throw new Error('no session');
    // Close sealed the session and completed the object, then died before recording it.
    await bed.sessions.finishSession(id, 'closing', session.expiresAt, { nextOffset: file.length });
    await bed.deps.uploads.completeMultipartUpload(
      { key: session.key, uploadId: session.uploadId },
      (await bed.sessions.listParts(id)).map(({ partNumber, etag }) => ({ partNumber, etag })),
      { overwrite: false },
    );
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);

    const report = await createSweeper(
      bed.deps,
      listedSource(() => [id]),
      options,
    )();

    expect(report).toMatchObject({ discarded: 1, failed: 0 });
    expect((await bed.sessions.getSession(id))?.state).toBe('closed');
    expect(bed.sessions.partCount(id)).toBe(0);
    expect(bed.uploads.objects.get(session.key)?.body.toString()).toBe('sealed bytes');
  });

  it('stops at maxSessions and leaves the rest for the next run', async () => {
    const bed = newBed();
    const ids = [await createSession(bed.handler, '/a'), await createSession(bed.handler, '/b')];
    ids.push(await createSession(bed.handler, '/c'));
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const open = async () => {
      const states = await Promise.all(ids.map((id) => bed.sessions.getSession(id)));
      return ids.filter((_, index) => states[index]?.state === 'open');
    };
    const sweep = createSweeper(bed.deps, listedSource(open), { ...options, maxSessions: 2 });

    expect(await sweep()).toMatchObject({ discarded: 2, complete: false, stoppedBy: 'max-sessions' });
    expect(await open()).toHaveLength(1);
    expect(await sweep()).toMatchObject({ discarded: 1, complete: true });
    expect(await open()).toEqual([]);
    expect(bed.uploads.uploads.size).toBe(0);
  });

  it('stops before the invocation runs out of time', async () => {
    const bed = newBed();
    const id = await createSession(bed.handler);
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const context = { getRemainingTimeInMillis: () => options.reserveMs - 1 };

    const report = await createSweeper(
      bed.deps,
      listedSource(() => [id]),
      options,
    )(undefined, context);

    expect(report).toMatchObject({ candidates: 0, discarded: 0, complete: false, stoppedBy: 'deadline' });
    expect((await bed.sessions.getSession(id))?.state).toBe('open');
  });

  it('goes on past a session it cannot discard, reports the failure, and finishes it on the next run', async () => {
    const bed = newBed();
    const broken = await sessionWithStorage(bed, '/up/broken.bin');
    const fine = await sessionWithStorage(bed, '/up/fine.bin');
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const brokenUpload = (await bed.sessions.getSession(broken))?.uploadId;
    let failing = true;
    const abort = bed.uploads.abortMultipartUpload.bind(bed.uploads);
    bed.uploads.abortMultipartUpload = async (upload: MultipartUpload) => {
      if (failing && upload.uploadId === brokenUpload) throw new Error('S3 refused');
      return abort(upload);
    };
    const sweep = createSweeper(
      bed.deps,
      listedSource(() => [broken, fine]),
      options,
    );

    const error = await sweep().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(SweepIncompleteError);
    expect((error as SweepIncompleteError).report).toMatchObject({ discarded: 1, failed: 1 });
    expect((await bed.sessions.getSession(broken))?.state).toBe('open');
    expect((await bed.sessions.getSession(fine))?.state).toBe('cancelled');

    failing = false;
    expect(await sweep()).toMatchObject({ discarded: 1, skipped: 1, failed: 0, complete: true });
    expect((await bed.sessions.getSession(broken))?.state).toBe('cancelled');
    expect(bed.sessions.partCount(broken)).toBe(0);
    expect(stagedKeys(bed)).toEqual([]);
  });

  it('gives up after consecutive failures (the back end is down) and reports a failed scan', async () => {
    const bed = newBed();
    const ids: string[] = [];
    for (let index = 0; index < 8; index += 1) ids.push(await createSession(bed.handler, `/up/${index}`));
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const down: HandlerDeps = {
      ...bed.deps,
      sessions: Object.assign(Object.create(bed.sessions) as typeof bed.sessions, {
        getSession: async () => {
          throw new Error('DynamoDB is down');
        },
      }),
    };
    const failed = await createSweeper(
      down,
      listedSource(() => ids),
      { ...options, maxConsecutiveFailures: 3 },
    )().then(
      () => undefined,
      (thrown: unknown) => thrown as SweepIncompleteError,
    );
    expect(failed?.report).toMatchObject({
      candidates: 3,
      failed: 3,
      stoppedBy: 'failures',
      complete: false,
    });

    const brokenScan: ExpiredSessionSource = {
      forget: async () => undefined,
      // biome-ignore lint/correctness/useYield: a scan that fails before its first page.
      async *pages() {
        throw new Error('Scan refused');
      },
    };
    const scanFailed = await createSweeper(bed.deps, brokenScan, options)().then(
      () => undefined,
      (thrown: unknown) => thrown as SweepIncompleteError,
    );
    expect(scanFailed?.report).toMatchObject({ pages: 0, stoppedBy: 'scan-error', complete: false });
  });

  it('logs what it did', async () => {
    const logger = new Logger({ logLevel: 'SILENT' });
    const infos: unknown[] = [];
    logger.info = (...args: unknown[]) => {
      infos.push(args);
    };
    const bed = makeTestBed({ sessionTimeoutSeconds: String(TIMEOUT_SECONDS) }, logger);
    const id = await createSession(bed.handler);
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    await createSweeper(
      bed.deps,
      listedSource(() => [id]),
      options,
    )();
    expect(JSON.stringify(infos)).toContain('abandoned session released');
    expect(JSON.stringify(infos)).toContain('sweep done');
  });
});

describe('loadSweeperSettings', () => {
  it('defaults to a 5-minute grace period, 1,000 sessions per run and DynamoDB pages', () => {
    expect(loadSweeperSettings({})).toEqual({ options: DEFAULT_SWEEPER_OPTIONS, pageSize: undefined });
    expect(DEFAULT_SWEEPER_OPTIONS.graceSeconds).toBe(300);
  });

  it('reads its variables and refuses bad values with the variable named', () => {
    expect(
      loadSweeperSettings({
        [SWEEPER_ENV.graceSeconds]: '60',
        [SWEEPER_ENV.maxSessions]: '10',
        [SWEEPER_ENV.pageSize]: '100',
      }),
    ).toEqual({ options: { ...DEFAULT_SWEEPER_OPTIONS, graceSeconds: 60, maxSessions: 10 }, pageSize: 100 });
    // Shorter than the BITS function's timeout would let the sweeper race a running fragment.
    expect(() => loadSweeperSettings({ [SWEEPER_ENV.graceSeconds]: '10' })).toThrow(ConfigError);
    expect(() => loadSweeperSettings({ [SWEEPER_ENV.maxSessions]: '0' })).toThrow(SWEEPER_ENV.maxSessions);
    expect(() => loadSweeperSettings({ [SWEEPER_ENV.pageSize]: 'ten' })).toThrow(SWEEPER_ENV.pageSize);
  });
});

describe('the sweeper metrics', () => {
  let out: OutputCapture;
  beforeEach(() => {
    out = captureOutput();
  });
  afterEach(() => {
    out.restore();
    // Powertools warns on stderr (invalid values, dimension trouble, empty flushes): none expected.
    expect(out.stderr()).toBe('');
  });

  /** The one EMF line each run writes. */
  const runLines = (): EmfRecord[] => emfRecords(out.json());
  const values = (record: EmfRecord | undefined) =>
    Object.fromEntries(Object.keys(SWEEP_METRICS).map((name) => [name, record?.values[name]]));

  it('publishes one EMF line per run in the BitsUpload namespace under (service), every metric a Count', async () => {
    const bed = newBed();
    const abandoned = await sessionWithStorage(bed, '/up/abandoned.bin');
    const cancelled = await createSession(bed.handler, '/up/cancelled.bin');
    expect((await sendPacket(bed.handler, 'Cancel-Session', cancelled)).status).toBe(200);
    bed.clock.advance(TOMBSTONE_SECONDS + GRACE_SECONDS);

    const report = await createSweeper(
      bed.deps,
      listedSource(() => [abandoned, cancelled, '{unknown}']),
      options,
      new SweepMetrics(),
    )();

    expect(report).toMatchObject({ discarded: 1, forgotten: 1, skipped: 1, left: 0 });
    const lines = runLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      namespace: 'BitsUpload',
      dimensionSets: [['service']],
      units: {
        ExpiredSessionsFound: 'Count',
        SessionsSwept: 'Count',
        TombstonesForgotten: 'Count',
        SweepFailures: 'Count',
        ExpiredSessionsLeft: 'Count',
      },
    });
    expect(lines[0]?.values.service).toBe('bits-upload');
    expect(values(lines[0])).toEqual({
      ExpiredSessionsFound: 3,
      SessionsSwept: 1,
      TombstonesForgotten: 1,
      SweepFailures: 0,
      ExpiredSessionsLeft: 0,
    });
  });

  it('publishes zeros when nothing has expired, so the stuck-sessions alarm can recover', async () => {
    const bed = newBed();
    await createSweeper(
      bed.deps,
      listedSource(() => []),
      options,
      new SweepMetrics(),
    )();
    expect(values(runLines()[0])).toEqual({
      ExpiredSessionsFound: 0,
      SessionsSwept: 0,
      TombstonesForgotten: 0,
      SweepFailures: 0,
      ExpiredSessionsLeft: 0,
    });
  });

  it('counts what a run stopped at max-sessions left, to the end of the scan', async () => {
    const bed = newBed();
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) ids.push(await createSession(bed.handler, `/up/${index}`));
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const sweep = createSweeper(
      bed.deps,
      listedSource(() => ids, 2),
      { ...options, maxSessions: 2 },
      new SweepMetrics(),
    );

    expect(await sweep()).toMatchObject({ pages: 3, discarded: 2, left: 3, stoppedBy: 'max-sessions' });
    expect(values(runLines()[0])).toMatchObject({
      ExpiredSessionsFound: 5,
      SessionsSwept: 2,
      ExpiredSessionsLeft: 3,
    });
  });

  it('still succeeds when the scan fails while only counting what max-sessions left', async () => {
    const bed = newBed();
    const ids = [await createSession(bed.handler, '/up/a'), await createSession(bed.handler, '/up/b')];
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const source: ExpiredSessionSource = {
      forget: async () => undefined,
      async *pages() {
        yield ids;
        throw new Error('Scan throttled');
      },
    };

    const report = await createSweeper(
      bed.deps,
      source,
      { ...options, maxSessions: 1 },
      new SweepMetrics(),
    )();

    expect(report).toMatchObject({ discarded: 1, left: 1, stoppedBy: 'max-sessions', complete: false });
    expect(values(runLines()[0])).toMatchObject({ SessionsSwept: 1, ExpiredSessionsLeft: 1 });
  });

  it('counts only the rest of the page in hand when a run stops at its deadline', async () => {
    const bed = newBed();
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) ids.push(await createSession(bed.handler, `/up/${index}`));
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    let remainingMs = 60_000;
    const context = { getRemainingTimeInMillis: () => remainingMs };
    const source = listedSource(() => ids, 2);
    const sweep = createSweeper(bed.deps, source, options, new SweepMetrics());
    // Time runs out after the first session: the second one of the page is left, the scan stops.
    const getSession = bed.sessions.getSession.bind(bed.sessions);
    bed.sessions.getSession = async (id: string) => {
      remainingMs = options.reserveMs - 1;
      return getSession(id);
    };

    expect(await sweep(undefined, context)).toMatchObject({
      pages: 1,
      discarded: 1,
      left: 1,
      stoppedBy: 'deadline',
    });
    expect(values(runLines()[0])).toMatchObject({ ExpiredSessionsFound: 2, ExpiredSessionsLeft: 1 });
  });

  it('publishes the failures of a run before it ends with SweepIncompleteError', async () => {
    const bed = newBed();
    const broken = await createSession(bed.handler, '/up/broken.bin');
    const fine = await createSession(bed.handler, '/up/fine.bin');
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const brokenUpload = (await bed.sessions.getSession(broken))?.uploadId;
    const abort = bed.uploads.abortMultipartUpload.bind(bed.uploads);
    bed.uploads.abortMultipartUpload = async (upload: MultipartUpload) => {
      if (upload.uploadId === brokenUpload) throw new Error('S3 refused');
      return abort(upload);
    };

    await expect(
      createSweeper(
        bed.deps,
        listedSource(() => [broken, fine]),
        options,
        new SweepMetrics(),
      )(),
    ).rejects.toBeInstanceOf(SweepIncompleteError);
    expect(values(runLines()[0])).toEqual({
      ExpiredSessionsFound: 2,
      SessionsSwept: 1,
      TombstonesForgotten: 0,
      SweepFailures: 1,
      ExpiredSessionsLeft: 1,
    });
  });

  it('reports the run as usual when publishing its metrics fails', async () => {
    const bed = newBed();
    const id = await createSession(bed.handler);
    bed.clock.advance(TIMEOUT_SECONDS + GRACE_SECONDS);
    const broken = {
      publish: () => {
        throw new Error('stdout closed');
      },
    };
    expect(
      await createSweeper(
        bed.deps,
        listedSource(() => [id]),
        options,
        broken,
      )(),
    ).toMatchObject({ discarded: 1, complete: true });
  });
});
