import { DEFAULT_MAX_FRAGMENT_SIZE } from '../../lambda/config';
import type { FaultKind } from '../helpers/fault-injection';
import { createReliabilityEnv, type ReliabilityEnv, type RunResult, runOnce, type Scenario } from './runner';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A well-behaved client and no random faults: the only fault is the scripted one. */
const calm: Omit<Scenario, 'fileSize' | 'fragmentSize' | 'minFragment' | 'ending' | 'endAt'> = {
  maxFragmentSize: DEFAULT_MAX_FRAGMENT_SIZE,
  faults: {},
  lostAck: 0,
  duplicate: 0,
  concurrent: 0,
  straggler: 0,
  overlap: 0,
  gap: 0,
  ping: 0,
  idle: 0,
};

/** Deterministic uploads whose every SDK call gets its turn to fail. */
const CASES: readonly { name: string; scenario: Partial<Scenario>; outcome: RunResult['outcome'] }[] = [
  {
    name: 'a 5.2 MiB upload in 2 MiB fragments (staged chunks, a merged part, the final part, Close)',
    scenario: {
      ...calm,
      fileSize: 5 * MiB + 200 * KiB,
      fragmentSize: 2 * MiB,
      minFragment: 2 * MiB,
      ending: 'close',
      endAt: 0,
    },
    outcome: 'completed',
  },
  {
    name: 'an empty file (Create-Session, then Close-Session: PutObject and Abort)',
    scenario: { ...calm, fileSize: 0, fragmentSize: 1, minFragment: 1, ending: 'close', endAt: 0 },
    outcome: 'completed',
  },
  {
    name: 'an upload cancelled after its first fragment',
    scenario: {
      ...calm,
      fileSize: 300 * KiB,
      fragmentSize: 100 * KiB,
      minFragment: 100 * KiB,
      ending: 'cancel',
      endAt: 1,
    },
    outcome: 'cancelled',
  },
];

/** In `npm test` a crash after each call; every kind with `npm run test:reliability` (RELIABILITY_RUNS ≥ 200). */
const FULL = Number(process.env.RELIABILITY_RUNS ?? '20') >= 200;
const KINDS: readonly FaultKind[] = FULL
  ? ['crash', 'fail-after', 'fail-before', 'fail-before-unknown', 'lost-response']
  : ['crash'];

describe('a fault at any single SDK call is harmless (design.md: crash between any two calls)', () => {
  let env: ReliabilityEnv;
  beforeAll(async () => {
    env = await createReliabilityEnv();
  }, 60_000);
  afterAll(async () => {
    await env?.destroy();
  });

  it.each(CASES)(
    '$name',
    async ({ scenario, outcome }) => {
      const clean = await runOnce(env, 1, { scenario });
      expect(clean.outcome).toBe(outcome);
      // Past the client's own calls the fault lands in the sweeps that follow.
      const positions = clean.sdkCalls + 6;
      const failures: string[] = [];
      let runs = 0;
      for (const kind of KINDS) {
        for (let nth = 1; nth <= positions; nth += 1) {
          const result = await runOnce(env, 1, { scenario, rules: [{ kind, nth }] });
          runs += 1;
          const problems = [
            ...(result.outcome === outcome ? [] : [`ended ${result.outcome}`]),
            ...result.anomalies,
            ...result.orphans,
            ...(result.clientInput5xx === 0 ? [] : [`${result.clientInput5xx} 500s without a fault`]),
          ];
          if (problems.length > 0) failures.push(`${kind} at call ${nth}: ${problems.join('; ')}`);
        }
      }
      process.stdout.write(`${runs} single-fault runs (${KINDS.join(', ')} at each of ${positions} calls)\n`);
      expect(failures).toEqual([]);
    },
    300_000,
  );
});
