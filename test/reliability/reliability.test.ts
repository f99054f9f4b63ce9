import { summarize } from './report';
import { createReliabilityEnv, type ReliabilityEnv, type RunResult, runOnce } from './runner';

/** `npm run test:reliability` sets 200; inside `npm test` a short run keeps the suite fast. */
const RUNS = Number(process.env.RELIABILITY_RUNS ?? '20');
/** Seeds are FIRST_SEED, FIRST_SEED + 1, …: set RELIABILITY_SEED to explore other schedules. */
const FIRST_SEED = Number(process.env.RELIABILITY_SEED ?? '1000');
/** Generous per-run budget: a run takes about a second on the emulators. */
const RUN_BUDGET_MS = 10_000;
/** A run that takes this long is stuck: fail with its seed instead of waiting for jest's timeout. */
const RUN_WATCHDOG_MS = 60_000;

async function watched(seed: number, run: Promise<RunResult>): Promise<RunResult> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`run with seed ${seed} is stuck`)), RUN_WATCHDOG_MS);
  });
  try {
    return await Promise.race([run, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

describe('uploads under injected faults, lost acks, duplicates, races and expiry', () => {
  let env: ReliabilityEnv;

  beforeAll(async () => {
    env = await createReliabilityEnv();
  }, 60_000);

  afterAll(async () => {
    await env?.destroy();
  });

  it(
    `keeps every invariant over ${RUNS} randomized runs`,
    async () => {
      expect(Number.isSafeInteger(RUNS) && RUNS > 0).toBe(true);
      const started = Date.now();
      const results: RunResult[] = [];
      for (let run = 0; run < RUNS; run += 1) {
        const seed = FIRST_SEED + run;
        results.push(await watched(seed, runOnce(env, seed)));
      }
      const summary = summarize(results, env.injector, Date.now() - started);
      process.stdout.write(`${summary.lines.join('\n')}\n`);

      expect(summary.runs).toBe(RUNS);
      expect(summary.anomalies).toEqual([]);
      expect(summary.orphans).toEqual([]);
      expect(summary.clientInput5xx).toBe(0);
      // The schedule must actually have exercised the paths it claims to.
      expect(summary.uploadsCompleted).toBeGreaterThan(0);
      expect(summary.backendFault5xx).toBeGreaterThan(0);
      // Every 4th seed runs in notification mode: the application was called and replies checked.
      if (RUNS >= 8) {
        expect(summary.notificationRuns).toBeGreaterThan(0);
        expect(summary.notifications).toBeGreaterThan(0);
        expect(summary.repliesVerified).toBeGreaterThan(0);
      }
    },
    60_000 + RUNS * RUN_BUDGET_MS,
  );
});
