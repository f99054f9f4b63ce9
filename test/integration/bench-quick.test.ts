import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { ServiceCounts } from '../../bench/counters';
import type { BenchReport, ScenarioResult } from '../../bench/report';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

/** Sum of a per-command record. */
const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** Each count of `total` equals the sum of the same count over the phases. */
function expectPhasesAddUp(total: ServiceCounts, phases: Record<string, ServiceCounts>): void {
  for (const field of ['requests', 'errors', 'bytesSent', 'bytesReceived', 'writeUnits'] as const) {
    const byPhases: Record<string, number> = {};
    for (const counts of Object.values(phases)) {
      for (const [name, value] of Object.entries(counts[field]))
        byPhases[name] = (byPhases[name] ?? 0) + value;
    }
    for (const [name, value] of Object.entries(total[field]))
      expect(byPhases[name] ?? 0).toBeCloseTo(value, 6);
  }
}

/**
 * Smoke test of `npm run bench -- --quick`: the report is produced and agrees with itself. Timings
 * are not checked (this machine runs other suites at the same time); counts and bytes are exact.
 */
describe('npm run bench -- --quick', () => {
  let out: string;
  let report: BenchReport;
  let markdown: string;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'bits-bench-quick-'));
    const tsx = pathToFileURL(require.resolve('tsx')).href;
    await run(process.execPath, ['--import', tsx, join(ROOT, 'bench', 'run.ts'), '--quick', '--out', out], {
      cwd: ROOT,
      timeout: 110_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchReport;
    markdown = readFileSync(join(out, 'latest.md'), 'utf8');
  }, 120_000);

  afterAll(() => {
    if (out !== undefined) rmSync(out, { recursive: true, force: true });
  });

  const scenarios = (): readonly ScenarioResult[] => report.scenarios;

  it('writes both files, with machine facts and every system once', () => {
    expect(existsSync(join(out, 'latest.json'))).toBe(true);
    expect(report.mode).toBe('quick');
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    expect(new Set(scenarios().map((s) => s.system))).toEqual(new Set(['ours', 'tus', 'lib-storage']));
    for (const scenario of scenarios()) expect(markdown).toContain(scenario.id);
    expect(markdown).toContain('## Targets');
  });

  it('uploaded every file intact and left nothing staged', () => {
    for (const scenario of scenarios()) {
      expect(scenario.runs).toHaveLength(report.runsPerScenario);
      expect(scenario.summary.allVerified).toBe(true);
      expect(scenario.summary.leftoverObjects).toBe(0);
    }
  });

  it('has byte counts that add up: every byte lands in exactly one part', () => {
    for (const scenario of scenarios()) {
      for (const result of scenario.runs) {
        const sent = result.s3.total.bytesSent;
        const parts = result.s3.total.requests.UploadPart ?? 0;
        if (parts > 0) expect(sent.UploadPart).toBe(scenario.fileSize);
        // The tus store uploads a part as soon as its tail reaches 5 MiB, so only the others have fixed parts.
        if (scenario.system !== 'tus' && parts > 0) {
          expect(parts).toBe(Math.ceil(scenario.fileSize / scenario.partSize));
        }
      }
      const { s3 } = scenario.summary;
      const first = scenario.runs[0];
      expect(first).toBeDefined();
      const sent = first?.s3.total.bytesSent ?? {};
      expect(s3.bytesWritten).toBe((sent.PutObject ?? 0) + (sent.UploadPart ?? 0));
      expect(s3.bytesRead).toBe(first?.s3.total.bytesReceived.GetObject ?? 0);
      expect(s3.writeAmplification).toBeCloseTo(s3.bytesWritten / scenario.fileSize, 9);
      expect(s3.readAmplification).toBeCloseTo(s3.bytesRead / scenario.fileSize, 9);
      expect(s3.requests).toBe(sum(first?.s3.total.requests ?? {}));
    }
  });

  it('derives per-fragment figures from the counts', () => {
    for (const scenario of scenarios()) {
      const first = scenario.runs[0];
      if (first === undefined) throw new Error('no run');
      const { s3, dynamo } = scenario.summary;
      if (scenario.dataPhase !== null) {
        // Server requests are answered one at a time, so every request belongs to exactly one phase.
        expectPhasesAddUp(first.s3.total, first.s3.phases);
        const dataPhase = first.s3.phases[scenario.dataPhase];
        expect(s3.requestsPerDataRequest).toBeCloseTo(sum(dataPhase?.requests ?? {}) / first.dataRequests, 9);
        expect(first.serverRequestMs?.count).toBe(first.dataRequests);
      }
      if (scenario.system === 'ours') {
        expect(first.dataRequests).toBe(Math.ceil(scenario.fileSize / scenario.chunkSize));
        expect(dynamo).not.toBeNull();
        if (first.dynamo === null || dynamo === null) throw new Error('no DynamoDB counts');
        expectPhasesAddUp(first.dynamo.total, first.dynamo.phases);
        const fragment = first.dynamo.phases.Fragment?.requests ?? {};
        expect(dynamo.dataPhaseWrites).toBe((fragment.PutItem ?? 0) + (fragment.UpdateItem ?? 0));
        expect(dynamo.writesPerDataRequest).toBeCloseTo(dynamo.dataPhaseWrites / first.dataRequests, 9);
        expect(dynamo.writeUnits).toBeGreaterThan(0);
        const model = scenario.summary.model;
        expect(model?.prediction.fragments).toBe(first.dataRequests);
        expect(model?.bytesWrittenDeviation).toBeGreaterThanOrEqual(0);
        expect(scenario.summary.memory?.budgetOverBase).toBe(scenario.partSize + 2 * scenario.chunkSize);
      }
      if (scenario.system !== 'lib-storage') {
        const memory = first.memory;
        expect(memory).not.toBeNull();
        expect(memory?.peakRss).toBeGreaterThan(0);
        expect(memory?.baseRss).toBeGreaterThan(0);
      }
    }
  });

  it('evaluates every target to a boolean that agrees with its value', () => {
    expect(report.targets.length).toBeGreaterThan(0);
    for (const target of report.targets) {
      expect(typeof target.met).toBe('boolean');
      const holds =
        target.value !== null &&
        (target.comparison === '<=' ? target.value <= target.target : target.value >= target.target);
      expect(target.met).toBe(holds);
    }
    const ours = scenarios().find((s) => s.system === 'ours' && s.chunkSize === 1024 * 1024);
    const tus = scenarios().find((s) => s.system === 'tus' && s.chunkSize === 1024 * 1024);
    const ratio = report.ratios.find((r) => r.numerator === ours?.id && r.denominator === tus?.id);
    expect(ratio?.value).toBeCloseTo(
      (ours?.summary.throughputMiBs.median ?? 0) / (tus?.summary.throughputMiBs.median ?? 1),
      9,
    );
    expect(report.lambda?.bundleBytes).toBeGreaterThan(0);
  });
});
