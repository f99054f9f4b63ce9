import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import type { CountSnapshot } from './counters';

/**
 * The server under test runs in its own process so its memory is its own: the bench's main process
 * holds the S3 emulator's data and the client. The two talk over Node's IPC channel.
 */

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /**
   * V8's young generation as committed (new space and new large-object space): it grows towards its
   * limit (2 × --max-semi-space-size) as requests allocate, and a full GC shrinks it again.
   */
  readonly youngGeneration: number;
}

export interface ServerMemory {
  /** RSS right after the server started listening, before any request. */
  readonly startRss: number;
  /** RSS after the warm-up upload and a full GC: code loaded, nothing in flight. */
  readonly baseRss: number;
  /** Kernel peak RSS (VmHWM) since the reset at the base point, i.e. during the measured upload. */
  readonly peakRss: number;
  /** process.memoryUsage() at the base point. */
  readonly baseSample: MemorySample;
  /** Highest values of process.memoryUsage() sampled every SAMPLE_MS during the measured upload. */
  readonly sampledPeak: MemorySample;
}

export interface ServerReport {
  readonly s3: CountSnapshot;
  readonly dynamo?: CountSnapshot;
  /** ListParts calls the tus shim answered without a request (see list-parts-shim.ts). */
  readonly listPartsAnswered?: number;
  /** Server-side time per request in ms, by packet type or HTTP method (what is timed: see entry). */
  readonly serverMs: Record<string, number[]>;
  readonly memory: ServerMemory;
  /** User + system CPU time of the server process since the reset, ms. */
  readonly cpuMs: number;
}

export type ToChild = { readonly type: 'reset' } | { readonly type: 'report' } | { readonly type: 'stop' };

export type FromChild =
  | { readonly type: 'ready'; readonly url: string; readonly startRss: number }
  | { readonly type: 'reset-done' }
  | { readonly type: 'report'; readonly report: ServerReport }
  | { readonly type: 'failed'; readonly message: string };

/** process.memoryUsage() walks the heap spaces: every 50 ms costs well under 1 % of a core. */
const SAMPLE_MS = 50;
const KiB = 1024;

/** VmRSS / VmHWM of this process in bytes (Linux). */
export function procStatus(field: 'VmRSS' | 'VmHWM'): number {
  const match = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return match?.[1] === undefined ? 0 : Number(match[1]) * KiB;
}

const YOUNG_SPACES: ReadonlySet<string> = new Set(['new_space', 'new_large_object_space']);

const sample = (): MemorySample => {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  const youngGeneration = getHeapSpaceStatistics()
    .filter((space) => YOUNG_SPACES.has(space.space_name))
    .reduce((sum, space) => sum + space.space_size, 0);
  return { rss, heapUsed, heapTotal, external, arrayBuffers, youngGeneration };
};

const maxSample = (a: MemorySample, b: MemorySample): MemorySample => ({
  rss: Math.max(a.rss, b.rss),
  heapUsed: Math.max(a.heapUsed, b.heapUsed),
  heapTotal: Math.max(a.heapTotal, b.heapTotal),
  external: Math.max(a.external, b.external),
  arrayBuffers: Math.max(a.arrayBuffers, b.arrayBuffers),
  youngGeneration: Math.max(a.youngGeneration, b.youngGeneration),
});

/** How long V8's background threads get to finish after a full GC before the base is read. */
const SETTLE_MS = 300;

/**
 * A full GC, a pause, and another: the base is then what the idle server holds, not the warm-up's
 * garbage. Read right after one GC, RSS was up to 16 MiB lower than 300 ms later with nothing
 * running on the main thread (presumably V8 finishing its collection on background threads), which
 * made the base, and every figure above it, vary by that much from run to run (bench/README.md).
 */
async function settledAfterGc(gc: (() => void) | undefined): Promise<void> {
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  gc?.();
}

export interface ServedServer {
  readonly url: string;
  readonly reset: () => void;
  readonly report: () => Omit<ServerReport, 'memory' | 'cpuMs'>;
  readonly stop: () => Promise<void>;
}

const send = (message: FromChild): void => {
  process.send?.(message);
};

/**
 * Runs a child server entry: starts the server, answers the parent's messages, exits with the
 * parent. `start` builds the server; everything else is the same for every entry.
 */
export function serveParent(start: () => Promise<ServedServer>): void {
  if (process.send === undefined) {
    process.stderr.write('this is a bench child: start it through bench/run.ts (it needs an IPC channel)\n');
    process.exit(2);
  }
  // The parent died or closed the channel: nothing is left to report to.
  process.on('disconnect', () => process.exit(1));
  const gc = (globalThis as { gc?: () => void }).gc;
  start().then(
    (server) => {
      const startRss = procStatus('VmRSS');
      let baseRss = startRss;
      let baseSample = sample();
      let peak = baseSample;
      let cpuBase = process.cpuUsage();
      const timer = setInterval(() => {
        peak = maxSample(peak, sample());
      }, SAMPLE_MS);
      timer.unref();
      process.on('message', (message: ToChild) => {
        switch (message.type) {
          case 'reset': {
            server.reset();
            settledAfterGc(gc).then(() => {
              baseRss = procStatus('VmRSS');
              // "5" resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak covers only what follows.
              try {
                writeFileSync('/proc/self/clear_refs', '5');
              } catch {
                // Not permitted here: VmHWM then includes start-up and warm-up; sampledPeak still does not.
              }
              baseSample = sample();
              peak = baseSample;
              cpuBase = process.cpuUsage();
              send({ type: 'reset-done' });
            });
            break;
          }
          case 'report': {
            peak = maxSample(peak, sample());
            const memory: ServerMemory = {
              startRss,
              baseRss,
              peakRss: procStatus('VmHWM'),
              baseSample,
              sampledPeak: peak,
            };
            const cpu = process.cpuUsage(cpuBase);
            send({
              type: 'report',
              report: { ...server.report(), memory, cpuMs: (cpu.user + cpu.system) / 1000 },
            });
            break;
          }
          case 'stop':
            clearInterval(timer);
            // process.exit (not a crash) so that --cpu-prof writes its profile.
            server.stop().finally(() => process.exit(0));
            break;
        }
      });
      send({ type: 'ready', url: server.url, startRss });
    },
    (error: unknown) => {
      send({
        type: 'failed',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      process.exit(1);
    },
  );
}
