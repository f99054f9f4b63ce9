import { cpus, loadavg, release, totalmem } from 'node:os';
import type { ServerMemory } from './child-protocol';
import { type CountSnapshot, type ServiceCounts, total } from './counters';
import type { ModelPrediction } from './model';
import { GiB, type Scenario, type System, scenarioLabel } from './scenarios';
import { percentile, type Spread, spread } from './stats';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly platform: string;
  /** 1-minute load average when the bench started and ended: other work on the machine skews timings. */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

export const machineInfo = (loadAtStart: number): MachineInfo => ({
  cpuModel: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryBytes: totalmem(),
  node: process.version,
  platform: `${process.platform} ${release()}`,
  loadAverage: { start: loadAtStart, end: loadavg()[0] ?? 0 },
});

export interface Percentiles {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
}

export const percentiles = (samples: readonly number[]): Percentiles | null =>
  samples.length === 0
    ? null
    : {
        count: samples.length,
        mean: samples.reduce((sum, value) => sum + value, 0) / samples.length,
        p50: percentile(samples, 50),
        p95: percentile(samples, 95),
      };

/** One measured upload. Raw counts are kept so the report can be checked against itself. */
export interface RunResult {
  readonly run: number;
  readonly elapsedMs: number;
  readonly throughputMiBs: number;
  /** Fragments, PATCHes or S3 parts sent. */
  readonly dataRequests: number;
  /** Round trip per data request as the client measured it. */
  readonly clientRequestMs: Percentiles | null;
  /** Server-side time per data request (what is timed: ScenarioResult.serverTiming). */
  readonly serverRequestMs: Percentiles | null;
  readonly s3: CountSnapshot;
  readonly dynamo: CountSnapshot | null;
  readonly listPartsAnswered: number | null;
  readonly memory: ServerMemory | null;
  /**
   * CPU time (user + system, ms) during the measured upload: the server process, the bench process
   * (the client and fauxqs together) and DynamoDB Local's JVM.
   */
  readonly cpuMs: {
    readonly server: number | null;
    readonly benchProcess: number;
    readonly dynamoDbLocal: number | null;
  };
  /** The object's sha256 read back equals the file's. */
  readonly verified: boolean;
  /** Staged chunks (ours) or `.part` objects (tus) still in the bucket after the upload. */
  readonly leftoverObjects: number;
}

/** What both services' summaries count. */
interface ServiceSummary {
  readonly requests: number;
  readonly requestsByCommand: Record<string, number>;
  readonly errors: number;
  readonly errorsByCommand: Record<string, number>;
  /** Time waiting on the service (see ServiceCounts.waitMs) while serving data requests, per data request. */
  readonly waitMsPerDataRequest: number;
}

export interface S3Summary extends ServiceSummary {
  /** Requests made while serving data requests (Fragment / PATCH); lib-storage: all of them. */
  readonly dataPhaseRequests: number;
  readonly requestsPerDataRequest: number;
  /** All requests of the upload (session set-up and close included) over the data requests. */
  readonly allRequestsPerDataRequest: number;
  readonly requestsPerGiB: number;
  /** PutObject + UploadPart payload bytes. */
  readonly bytesWritten: number;
  readonly bytesWrittenByParts: number;
  /** GetObject payload bytes. */
  readonly bytesRead: number;
  readonly writeAmplification: number;
  readonly readAmplification: number;
}

export interface DynamoSummary extends ServiceSummary {
  readonly writes: number;
  readonly dataPhaseWrites: number;
  readonly writesPerDataRequest: number;
  readonly allWritesPerDataRequest: number;
  readonly dataPhaseRequestsPerDataRequest: number;
  readonly writeUnits: number;
  readonly writeUnitsPerDataRequest: number;
  readonly writeUnitsPerGiB: number;
  readonly readUnits: number;
}

export interface MemorySummary {
  readonly startRss: Spread;
  readonly baseRss: Spread;
  readonly peakRss: Spread;
  readonly peakOverBase: Spread;
  readonly heapUsedPeak: Spread;
  readonly arrayBuffersPeak: Spread;
  /** Sampled peak minus the value at the base point: how much the JS heap grew under load. */
  readonly heapUsedGrowth: Spread;
  /** Same for ArrayBuffer memory (Buffers: the data the server holds). */
  readonly arrayBuffersGrowth: Spread;
  /** Same for the V8 heap as committed (heapTotal): pages the JavaScript heap took on under load. */
  readonly heapTotalGrowth: Spread;
  /** V8's young generation (committed) at its sampled peak, and its growth above the base point. */
  readonly youngGenerationPeak: Spread;
  readonly youngGenerationGrowth: Spread;
  /** Part size + 2 fragments: what the target allows above the base (ours only). */
  readonly budgetOverBase: number | null;
}

export interface ModelComparison {
  readonly prediction: ModelPrediction;
  readonly bytesWrittenDeviation: number;
  readonly bytesReadDeviation: number;
  /** Fragment-phase GetObject/UploadPart/PutObject/DeleteObjects and PutItem/UpdateItem counts equal the model's. */
  readonly requestsMatch: boolean;
}

export interface ScenarioSummary {
  readonly throughputMiBs: Spread;
  readonly elapsedMs: Spread;
  readonly dataRequests: number;
  readonly clientRequestMsP50: Spread | null;
  readonly clientRequestMsP95: Spread | null;
  readonly serverRequestMsP50: Spread | null;
  readonly serverRequestMsP95: Spread | null;
  readonly serverRequestMsMean: Spread | null;
  readonly s3: S3Summary;
  readonly dynamo: DynamoSummary | null;
  readonly memory: MemorySummary | null;
  /** CPU ms per data request by process (see RunResult.cpuMs). */
  readonly cpuMsPerDataRequest: {
    readonly server: Spread | null;
    readonly benchProcess: Spread | null;
    readonly dynamoDbLocal: Spread | null;
  };
  readonly model: ModelComparison | null;
  /** ListParts calls the tus shim answered (each would be one more request on real S3). */
  readonly listPartsAnswered: number | null;
  /** Every run made the same requests with the same byte counts. */
  readonly countsIdentical: boolean;
  readonly allVerified: boolean;
  readonly leftoverObjects: number;
}

export interface ScenarioResult extends Scenario {
  readonly label: string;
  readonly partSize: number;
  /** Phase name of the data requests in the counts: Fragment, PATCH, or null (lib-storage). */
  readonly dataPhase: string | null;
  readonly serverTiming: string | null;
  readonly runs: readonly RunResult[];
  readonly summary: ScenarioSummary;
}

export interface LambdaResult {
  readonly bundleBytes: number;
  readonly sourceMapBytes: number;
  readonly initMs: Spread;
  readonly initRunsMs: readonly number[];
  readonly how: string;
}

export interface Target {
  readonly name: string;
  readonly value: number | null;
  readonly target: number;
  readonly comparison: '<=' | '>=';
  readonly unit: string;
  readonly met: boolean;
  readonly detail?: string;
}

export interface Ratio {
  readonly name: string;
  readonly numerator: string;
  readonly denominator: string;
  readonly value: number;
}

export interface BenchReport {
  readonly generatedAt: string;
  readonly mode: 'quick' | 'full';
  readonly runsPerScenario: number;
  readonly machine: MachineInfo;
  readonly scenarios: readonly ScenarioResult[];
  readonly ratios: readonly Ratio[];
  readonly lambda: LambdaResult | null;
  readonly targets: readonly Target[];
  readonly notes: readonly string[];
}

const S3_WRITE_COMMANDS = ['PutObject', 'UploadPart'];
const DYNAMO_WRITE_COMMANDS = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems'];

const phase = (counts: CountSnapshot, name: string | null): ServiceCounts | undefined =>
  name === null ? counts.total : counts.phases[name];

const sameCounts = (a: CountSnapshot | null, b: CountSnapshot | null): boolean =>
  JSON.stringify(a?.total ?? null) === JSON.stringify(b?.total ?? null);

/** Deviation of a measured figure from a predicted one; a prediction of 0 allows only 0. */
export const deviation = (measured: number, predicted: number): number =>
  predicted === 0 ? (measured === 0 ? 0 : 1) : Math.abs(measured - predicted) / predicted;

/** The counts both services' summaries share: all requests and errors, and the data phase's waits. */
function summarizeService(
  all: ServiceCounts,
  data: ServiceCounts | undefined,
  dataRequests: number,
): ServiceSummary {
  return {
    requests: total(all.requests),
    requestsByCommand: all.requests,
    errors: total(all.errors),
    errorsByCommand: all.errors,
    waitMsPerDataRequest: (data === undefined ? 0 : total(data.waitMs)) / dataRequests,
  };
}

function summarizeS3(run: RunResult, fileSize: number, dataPhase: string | null): S3Summary {
  const all = run.s3.total;
  const data = phase(run.s3, dataPhase);
  const requests = total(all.requests);
  const dataPhaseRequests = data === undefined ? 0 : total(data.requests);
  const bytesWritten = total(all.bytesSent, S3_WRITE_COMMANDS);
  const bytesRead = total(all.bytesReceived, ['GetObject']);
  return {
    ...summarizeService(all, data, run.dataRequests),
    dataPhaseRequests,
    requestsPerDataRequest: dataPhaseRequests / run.dataRequests,
    allRequestsPerDataRequest: requests / run.dataRequests,
    requestsPerGiB: requests / (fileSize / GiB),
    bytesWritten,
    bytesWrittenByParts: total(all.bytesSent, ['UploadPart']),
    bytesRead,
    writeAmplification: bytesWritten / fileSize,
    readAmplification: bytesRead / fileSize,
  };
}

function summarizeDynamo(run: RunResult, fileSize: number, dataPhase: string | null): DynamoSummary | null {
  if (run.dynamo === null) return null;
  const all = run.dynamo.total;
  const data = phase(run.dynamo, dataPhase);
  const writes = total(all.requests, DYNAMO_WRITE_COMMANDS);
  const dataPhaseWrites = data === undefined ? 0 : total(data.requests, DYNAMO_WRITE_COMMANDS);
  const writeUnits = total(all.writeUnits);
  const dataWriteUnits = data === undefined ? 0 : total(data.writeUnits);
  return {
    ...summarizeService(all, data, run.dataRequests),
    writes,
    dataPhaseWrites,
    writesPerDataRequest: dataPhaseWrites / run.dataRequests,
    allWritesPerDataRequest: writes / run.dataRequests,
    dataPhaseRequestsPerDataRequest: (data === undefined ? 0 : total(data.requests)) / run.dataRequests,
    writeUnits,
    writeUnitsPerDataRequest: dataWriteUnits / run.dataRequests,
    writeUnitsPerGiB: writeUnits / (fileSize / GiB),
    readUnits: total(all.readUnits),
  };
}

function summarizeMemory(runs: readonly RunResult[], budget: number | null): MemorySummary | null {
  const memories = runs.flatMap((run) => (run.memory === null ? [] : [run.memory]));
  if (memories.length === 0) return null;
  const of = (pick: (memory: ServerMemory) => number) => spread(memories.map(pick));
  return {
    startRss: of((m) => m.startRss),
    baseRss: of((m) => m.baseRss),
    peakRss: of((m) => m.peakRss),
    peakOverBase: of((m) => m.peakRss - m.baseRss),
    heapUsedPeak: of((m) => m.sampledPeak.heapUsed),
    arrayBuffersPeak: of((m) => m.sampledPeak.arrayBuffers),
    heapUsedGrowth: of((m) => m.sampledPeak.heapUsed - m.baseSample.heapUsed),
    arrayBuffersGrowth: of((m) => m.sampledPeak.arrayBuffers - m.baseSample.arrayBuffers),
    heapTotalGrowth: of((m) => m.sampledPeak.heapTotal - m.baseSample.heapTotal),
    youngGenerationPeak: of((m) => m.sampledPeak.youngGeneration),
    youngGenerationGrowth: of((m) => m.sampledPeak.youngGeneration - m.baseSample.youngGeneration),
    budgetOverBase: budget,
  };
}

function compareWithModel(run: RunResult, s3: S3Summary, prediction: ModelPrediction): ModelComparison {
  const fragmentS3 = run.s3.phases.Fragment?.requests ?? {};
  const fragmentDynamo = run.dynamo?.phases.Fragment?.requests ?? {};
  const s3Match = Object.entries(prediction.s3Requests).every(
    ([command, count]) => (fragmentS3[command] ?? 0) === count,
  );
  const dynamoMatch = Object.entries(prediction.dynamoWrites).every(
    ([command, count]) => (fragmentDynamo[command] ?? 0) === count,
  );
  return {
    prediction,
    bytesWrittenDeviation: deviation(s3.bytesWritten, prediction.bytesWritten),
    bytesReadDeviation: deviation(s3.bytesRead, prediction.bytesRead),
    requestsMatch: s3Match && dynamoMatch,
  };
}

const spreadOf = (
  runs: readonly RunResult[],
  pick: (run: RunResult) => number | undefined,
): Spread | null => {
  const values = runs.flatMap((run) => {
    const value = pick(run);
    return value === undefined ? [] : [value];
  });
  return values.length === 0 ? null : spread(values);
};

export interface ScenarioFacts {
  readonly partSize: number;
  readonly dataPhase: string | null;
  readonly serverTiming: string | null;
  readonly prediction: ModelPrediction | null;
  readonly memoryBudget: number | null;
}

/** Summary of a scenario's runs: timings as median and spread, counts from the first run. */
export function summarizeScenario(
  scenario: Scenario,
  facts: ScenarioFacts,
  runs: readonly RunResult[],
): ScenarioResult {
  const first = runs[0];
  if (first === undefined) throw new Error(`${scenario.id}: no runs`);
  const s3 = summarizeS3(first, scenario.fileSize, facts.dataPhase);
  const summary: ScenarioSummary = {
    throughputMiBs: spread(runs.map((run) => run.throughputMiBs)),
    elapsedMs: spread(runs.map((run) => run.elapsedMs)),
    dataRequests: first.dataRequests,
    clientRequestMsP50: spreadOf(runs, (run) => run.clientRequestMs?.p50),
    clientRequestMsP95: spreadOf(runs, (run) => run.clientRequestMs?.p95),
    serverRequestMsP50: spreadOf(runs, (run) => run.serverRequestMs?.p50),
    serverRequestMsP95: spreadOf(runs, (run) => run.serverRequestMs?.p95),
    serverRequestMsMean: spreadOf(runs, (run) => run.serverRequestMs?.mean),
    s3,
    dynamo: summarizeDynamo(first, scenario.fileSize, facts.dataPhase),
    memory: summarizeMemory(runs, facts.memoryBudget),
    cpuMsPerDataRequest: {
      server: spreadOf(runs, (run) =>
        run.cpuMs.server === null ? undefined : run.cpuMs.server / run.dataRequests,
      ),
      benchProcess: spreadOf(runs, (run) => run.cpuMs.benchProcess / run.dataRequests),
      dynamoDbLocal: spreadOf(runs, (run) =>
        run.cpuMs.dynamoDbLocal === null ? undefined : run.cpuMs.dynamoDbLocal / run.dataRequests,
      ),
    },
    model: facts.prediction === null ? null : compareWithModel(first, s3, facts.prediction),
    listPartsAnswered: first.listPartsAnswered,
    countsIdentical: runs.every(
      (run) => sameCounts(run.s3, first.s3) && sameCounts(run.dynamo, first.dynamo),
    ),
    allVerified: runs.every((run) => run.verified),
    leftoverObjects: Math.max(...runs.map((run) => run.leftoverObjects)),
  };
  return {
    ...scenario,
    label: scenarioLabel(scenario),
    partSize: facts.partSize,
    dataPhase: facts.dataPhase,
    serverTiming: facts.serverTiming,
    runs,
    summary,
  };
}

const find = (scenarios: readonly ScenarioResult[], system: System, chunkSize: number, fileSize?: number) =>
  scenarios.find(
    (s) =>
      s.system === system &&
      s.chunkSize === chunkSize &&
      !s.unbuffered &&
      (fileSize === undefined || s.fileSize === fileSize),
  );

const oursName = (ours: Scenario): string => (ours.unbuffered ? 'ours (part buffers off)' : 'ours');

/** Where a per-scenario target was measured: fragment size, file size, and part buffers off. */
const measuredAt = (ours: Scenario): string =>
  `${sizeLabel(ours.chunkSize)} fragments (${sizeLabel(ours.fileSize)} file${ours.unbuffered ? ', part buffers off' : ''})`;

/** Throughput ratios between systems on equal files (medians). */
export function computeRatios(scenarios: readonly ScenarioResult[]): Ratio[] {
  const ratios: Ratio[] = [];
  for (const ours of scenarios.filter((s) => s.system === 'ours')) {
    const tus = find(scenarios, 'tus', ours.chunkSize, ours.fileSize);
    if (tus !== undefined) {
      ratios.push({
        name: `throughput ${oursName(ours)} ÷ tus (${sizeLabel(ours.chunkSize)} chunks, ${sizeLabel(ours.fileSize)} file)`,
        numerator: ours.id,
        denominator: tus.id,
        value: ours.summary.throughputMiBs.median / tus.summary.throughputMiBs.median,
      });
    }
    const ceiling = scenarios.find((s) => s.system === 'lib-storage' && s.fileSize === ours.fileSize);
    if (ceiling !== undefined) {
      ratios.push({
        name: `throughput ${oursName(ours)} ÷ lib-storage (${sizeLabel(ours.chunkSize)} fragments, ${sizeLabel(ours.fileSize)} file)`,
        numerator: ours.id,
        denominator: ceiling.id,
        value: ours.summary.throughputMiBs.median / ceiling.summary.throughputMiBs.median,
      });
    }
  }
  for (const tus of scenarios.filter((s) => s.system === 'tus')) {
    const ceiling = scenarios.find((s) => s.system === 'lib-storage' && s.fileSize === tus.fileSize);
    if (ceiling !== undefined) {
      ratios.push({
        name: `throughput tus ÷ lib-storage (${sizeLabel(tus.chunkSize)} chunks, ${sizeLabel(tus.fileSize)} file)`,
        numerator: tus.id,
        denominator: ceiling.id,
        value: tus.summary.throughputMiBs.median / ceiling.summary.throughputMiBs.median,
      });
    }
  }
  return ratios;
}

const MiB = 1024 * 1024;

const atLeast = (
  name: string,
  value: number | null,
  target: number,
  unit: string,
  detail?: string,
): Target => ({
  name,
  value,
  target,
  comparison: '>=',
  unit,
  met: value !== null && Number.isFinite(value) && value >= target,
  ...(detail === undefined ? {} : { detail }),
});

const atMost = (
  name: string,
  value: number | null,
  target: number,
  unit: string,
  detail?: string,
): Target => ({
  name,
  value,
  target,
  comparison: '<=',
  unit,
  met: value !== null && Number.isFinite(value) && value <= target,
  ...(detail === undefined ? {} : { detail }),
});

/** Bundle budget: 300 KB read as 300,000 bytes (the stricter reading). */
export const BUNDLE_BUDGET_BYTES = 300_000;

/**
 * The targets, evaluated on medians. A target whose scenario was not run (quick mode) is left
 * out rather than reported as missed.
 */
export function evaluateTargets(scenarios: readonly ScenarioResult[], lambda: LambdaResult | null): Target[] {
  const targets: Target[] = [];
  for (const [chunk, wanted] of [
    [MiB, 2.0],
    [4 * MiB, 1.5],
  ] as const) {
    const ours = find(scenarios, 'ours', chunk);
    const tus = ours && find(scenarios, 'tus', chunk, ours.fileSize);
    if (ours && tus) {
      targets.push(
        atLeast(
          `throughput ours ÷ tus at ${sizeLabel(chunk)} fragments`,
          ours.summary.throughputMiBs.median / tus.summary.throughputMiBs.median,
          wanted,
          '×',
          `${ours.summary.throughputMiBs.median.toFixed(1)} vs ${tus.summary.throughputMiBs.median.toFixed(1)} MiB/s`,
        ),
      );
    }
  }
  const at1 = find(scenarios, 'ours', MiB);
  if (at1) {
    const { s3, dynamo } = at1.summary;
    targets.push(atMost('S3 bytes written ÷ file size at 1 MiB fragments', s3.writeAmplification, 2.0, '×'));
    targets.push(atMost('S3 bytes read ÷ file size at 1 MiB fragments', s3.readAmplification, 1.0, '×'));
    targets.push(
      atMost(
        'S3 requests per Fragment at 1 MiB fragments',
        s3.requestsPerDataRequest,
        2.0,
        'requests',
        `requests made while serving Fragment packets; with Create-Session and Close-Session: ${s3.allRequestsPerDataRequest.toFixed(3)}`,
      ),
    );
    if (dynamo) {
      targets.push(
        atMost(
          'DynamoDB writes per Fragment at 1 MiB fragments',
          dynamo.writesPerDataRequest,
          1.25,
          'writes',
          `with Create-Session and Close-Session: ${dynamo.allWritesPerDataRequest.toFixed(3)}; write units per Fragment ${dynamo.writeUnitsPerDataRequest.toFixed(2)}`,
        ),
      );
    }
  }
  for (const ours of scenarios.filter((s) => s.system === 'ours')) {
    const model = ours.summary.model;
    if (model) {
      targets.push(
        atMost(
          `S3 bytes within 5 % of the planner's model at ${measuredAt(ours)}`,
          Math.max(model.bytesWrittenDeviation, model.bytesReadDeviation),
          0.05,
          'fraction',
          `written ${ours.summary.s3.bytesWritten} vs ${model.prediction.bytesWritten} predicted, read ${ours.summary.s3.bytesRead} vs ${model.prediction.bytesRead}`,
        ),
      );
    }
    const memory = ours.summary.memory;
    if (memory && memory.budgetOverBase !== null) {
      targets.push(
        atMost(
          `server peak RSS above base at ${measuredAt(ours)}`,
          memory.peakOverBase.median,
          memory.budgetOverBase,
          'bytes',
          `budget = part ${sizeLabel(ours.partSize)} + 2 fragments; base = RSS after start, the warm-up upload and full GCs (median ${sizeLabel(memory.baseRss.median)}; right after start ${sizeLabel(memory.startRss.median)}); peak RSS ${sizeLabel(memory.peakRss.median)}; sampled growth above the base: Buffers ${sizeLabel(memory.arrayBuffersGrowth.median)}, V8 heap committed ${sizeLabel(memory.heapTotalGrowth.median)}`,
        ),
      );
    }
  }
  if (lambda) {
    targets.push(
      atMost(
        'Lambda bundle size',
        lambda.bundleBytes,
        BUNDLE_BUDGET_BYTES,
        'bytes',
        '300 KB read as 300,000 bytes; index.js without its source map',
      ),
    );
  }
  return targets;
}

// ---------------------------------------------------------------------------------------------
// Markdown

export function sizeLabel(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

const num = (value: number | null | undefined, digits = 2): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);

const withSpread = (value: Spread | null, digits = 1, scale = 1): string => {
  if (value === null) return '–';
  const [m, lo, hi] = [value.median / scale, value.min / scale, value.max / scale];
  return lo === hi ? num(m, digits) : `${num(m, digits)} (${num(lo, digits)}–${num(hi, digits)})`;
};

const commands = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');

/** Mean wait per request by command, in ms (waitMs ÷ requests). */
const meanWaits = (counts: ServiceCounts): string =>
  Object.entries(counts.waitMs)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, ms]) => `${name} ${num(ms / (counts.requests[name] ?? 1), 1)}`)
    .join(', ');

const table = (header: readonly string[], rows: readonly (readonly string[])[]): string =>
  [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');

function scenarioTable(s: ScenarioResult): string {
  const { summary } = s;
  const rows: string[][] = [
    [
      'file / chunk / part',
      `${sizeLabel(s.fileSize)} / ${sizeLabel(s.chunkSize)} / ${sizeLabel(s.partSize)}`,
    ],
    ['runs', String(s.runs.length)],
    ['throughput MiB/s, median (min–max)', withSpread(summary.throughputMiBs)],
    ['elapsed s', withSpread(summary.elapsedMs, 2, 1000)],
    ['data requests', String(summary.dataRequests)],
  ];
  if (summary.clientRequestMsP50) {
    rows.push([
      'per data request, client round trip ms p50 / p95',
      `${withSpread(summary.clientRequestMsP50)} / ${withSpread(summary.clientRequestMsP95)}`,
    ]);
  }
  if (summary.serverRequestMsP50) {
    rows.push([
      `per data request, server ms p50 / p95 (${s.serverTiming})`,
      `${withSpread(summary.serverRequestMsP50)} / ${withSpread(summary.serverRequestMsP95)}`,
    ]);
    rows.push(['per data request, server ms mean', withSpread(summary.serverRequestMsMean)]);
  }
  const { s3, dynamo } = summary;
  const cpu = summary.cpuMsPerDataRequest;
  rows.push([
    'per data request, CPU ms: server / bench process (client + fauxqs) / DynamoDB Local',
    `${withSpread(cpu.server)} / ${withSpread(cpu.benchProcess)} / ${withSpread(cpu.dynamoDbLocal)}`,
  ]);
  if (s3.waitMsPerDataRequest > 0 && s.dataPhase !== null) {
    rows.push([
      'per data request, ms waiting on S3 / DynamoDB (first run)',
      `${num(s3.waitMsPerDataRequest, 1)} / ${num(dynamo?.waitMsPerDataRequest, 1)}`,
    ]);
  }
  rows.push(
    ['S3 requests (all)', `${s3.requests}: ${commands(s3.requestsByCommand)}`],
    [
      'S3 requests per data request (data phase / all)',
      `${num(s3.requestsPerDataRequest, 3)} / ${num(s3.allRequestsPerDataRequest, 3)}`,
    ],
    ['S3 requests per GiB', num(s3.requestsPerGiB, 0)],
    [
      'S3 bytes written / read',
      `${s3.bytesWritten} (${num(s3.writeAmplification, 3)}× file) / ${s3.bytesRead} (${num(s3.readAmplification, 3)}× file)`,
    ],
  );
  const first = s.runs[0];
  if (first !== undefined)
    rows.push(['S3 mean wait per request by command, ms (first run)', meanWaits(first.s3.total)]);
  if (s3.errors > 0) rows.push(['S3 error responses (expected 404s)', commands(s3.errorsByCommand)]);
  if (summary.listPartsAnswered !== null) {
    rows.push(['ListParts answered by the shim (not sent to S3)', String(summary.listPartsAnswered)]);
  }
  if (dynamo) {
    rows.push(
      ['DynamoDB requests (all)', `${dynamo.requests}: ${commands(dynamo.requestsByCommand)}`],
      [
        'DynamoDB writes per Fragment (data phase / all)',
        `${num(dynamo.writesPerDataRequest, 3)} / ${num(dynamo.allWritesPerDataRequest, 3)}`,
      ],
      ['DynamoDB requests per Fragment (data phase)', num(dynamo.dataPhaseRequestsPerDataRequest, 3)],
      [
        'DynamoDB write units: total / per Fragment / per GiB',
        `${num(dynamo.writeUnits, 1)} / ${num(dynamo.writeUnitsPerDataRequest, 3)} / ${num(dynamo.writeUnitsPerGiB, 1)}`,
      ],
      ['DynamoDB read units (total)', num(dynamo.readUnits, 1)],
    );
    if (first?.dynamo) {
      rows.push(['DynamoDB mean wait per request by command, ms (first run)', meanWaits(first.dynamo.total)]);
    }
    if (dynamo.errors > 0) rows.push(['DynamoDB error responses', commands(dynamo.errorsByCommand)]);
  }
  const { memory } = summary;
  if (memory) {
    rows.push(
      ['server RSS after start MiB', withSpread(memory.startRss, 1, MiB)],
      ['server RSS base (after warm-up, GCs) MiB', withSpread(memory.baseRss, 1, MiB)],
      ['server peak RSS (VmHWM) MiB', withSpread(memory.peakRss, 1, MiB)],
      ['server peak RSS above base MiB', withSpread(memory.peakOverBase, 1, MiB)],
      [
        'server heapUsed / arrayBuffers peak MiB (sampled)',
        `${withSpread(memory.heapUsedPeak, 1, MiB)} / ${withSpread(memory.arrayBuffersPeak, 1, MiB)}`,
      ],
      [
        'of which growth above base: heapUsed / heapTotal (committed) / arrayBuffers MiB',
        `${withSpread(memory.heapUsedGrowth, 1, MiB)} / ${withSpread(memory.heapTotalGrowth, 1, MiB)} / ${withSpread(memory.arrayBuffersGrowth, 1, MiB)}`,
      ],
      [
        'V8 young generation (committed) peak / growth above base MiB (sampled)',
        `${withSpread(memory.youngGenerationPeak, 1, MiB)} / ${withSpread(memory.youngGenerationGrowth, 1, MiB)}`,
      ],
    );
    if (memory.budgetOverBase !== null) {
      rows.push(['memory budget above base (part + 2 fragments) MiB', num(memory.budgetOverBase / MiB, 1)]);
    }
  }
  const { model } = summary;
  if (model) {
    rows.push(
      [
        "planner's model: bytes written / read",
        `${model.prediction.bytesWritten} / ${model.prediction.bytesRead} (deviation ${num(model.bytesWrittenDeviation * 100, 2)} % / ${num(model.bytesReadDeviation * 100, 2)} %)`,
      ],
      [
        "planner's model: Fragment requests",
        `${commands(model.prediction.s3Requests)}; ${commands(model.prediction.dynamoWrites)} — ${model.requestsMatch ? 'measured counts equal' : 'measured counts DIFFER'}`,
      ],
    );
  }
  rows.push([
    'checks',
    `sha256 ${summary.allVerified ? 'verified' : 'MISMATCH'} every run; counts ${summary.countsIdentical ? 'identical' : 'differ'} across runs; leftover staged/tail objects ${summary.leftoverObjects}`,
  ]);
  return table(['', 'value'], rows);
}

function overviewTable(scenarios: readonly ScenarioResult[]): string {
  return table(
    [
      'scenario',
      'file',
      'chunk',
      'MiB/s median (min–max)',
      'S3 W× / R×',
      'S3 req / data req',
      'DDB writes / Fragment',
      'peak RSS above base MiB',
    ],
    scenarios.map((s) => [
      s.id,
      sizeLabel(s.fileSize),
      sizeLabel(s.chunkSize),
      withSpread(s.summary.throughputMiBs),
      `${num(s.summary.s3.writeAmplification, 3)} / ${num(s.summary.s3.readAmplification, 3)}`,
      num(s.summary.s3.requestsPerDataRequest, 3),
      num(s.summary.dynamo?.writesPerDataRequest, 3),
      withSpread(s.summary.memory?.peakOverBase ?? null, 1, MiB),
    ]),
  );
}

const targetValue = (t: Target): string => {
  if (t.value === null) return '–';
  if (t.unit === 'bytes') return `${t.value} (${sizeLabel(t.value)})`;
  if (t.unit === 'fraction') return `${num(t.value * 100, 2)} %`;
  return num(t.value, 3);
};

const targetBound = (t: Target): string => {
  const bound =
    t.unit === 'bytes'
      ? `${t.target} (${sizeLabel(t.target)})`
      : t.unit === 'fraction'
        ? `${num(t.target * 100, 0)} %`
        : String(t.target);
  return `${t.comparison === '<=' ? '≤' : '≥'} ${bound}`;
};

export function renderMarkdown(report: BenchReport): string {
  const { machine } = report;
  const parts: string[] = [
    '# Benchmark results',
    '',
    `Generated ${report.generatedAt} by \`npm run bench${report.mode === 'quick' ? ' -- --quick' : ''}\` (${report.runsPerScenario} run(s) per scenario). See bench/README.md for what is measured and how.`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${sizeLabel(machine.memoryBytes)} memory, Node ${machine.node}, ${machine.platform}; 1-minute load average ${num(machine.loadAverage.start)} at the start, ${num(machine.loadAverage.end)} at the end. All traffic on loopback; S3 is fauxqs (in the bench process), DynamoDB is DynamoDB Local (Java); servers run in their own processes.`,
    '',
    '## Overview',
    '',
    overviewTable(report.scenarios),
    '',
    '## Targets',
    '',
    table(
      ['target', 'value', 'bound', 'met', 'detail'],
      report.targets.map((t) => [
        t.name,
        targetValue(t),
        targetBound(t),
        t.met ? 'yes' : '**no**',
        t.detail ?? '',
      ]),
    ),
    '',
    '## Ratios',
    '',
    table(
      ['ratio', 'value'],
      report.ratios.map((r) => [r.name, `${num(r.value, r.value < 0.1 ? 3 : 2)}×`]),
    ),
    '',
    'Bytes amplification (S3 payload bytes ÷ file size):',
    '',
    table(
      ['scenario', 'written ÷ file', 'read ÷ file', 'S3 requests per GiB'],
      report.scenarios.map((s) => [
        s.id,
        num(s.summary.s3.writeAmplification, 3),
        num(s.summary.s3.readAmplification, 3),
        num(s.summary.s3.requestsPerGiB, 0),
      ]),
    ),
    '',
  ];
  if (report.lambda) {
    parts.push(
      '## Lambda bundle and cold init',
      '',
      table(
        ['', 'value'],
        [
          ['bundle index.js', `${report.lambda.bundleBytes} bytes (${sizeLabel(report.lambda.bundleBytes)})`],
          ['source map', `${report.lambda.sourceMapBytes} bytes`],
          ['module init ms, median (min–max)', withSpread(report.lambda.initMs, 0)],
          ['init runs ms', report.lambda.initRunsMs.map((ms) => ms.toFixed(0)).join(', ')],
        ],
      ),
      '',
      report.lambda.how,
      '',
    );
  }
  parts.push('## Scenarios', '');
  for (const scenario of report.scenarios) {
    parts.push(`### ${scenario.id}: ${scenario.label}`, '', scenarioTable(scenario), '');
  }
  if (report.notes.length > 0) {
    parts.push('## Notes', '', ...report.notes.map((note) => `- ${note}`), '');
  }
  return parts.join('\n');
}
