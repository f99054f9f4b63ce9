import { type FaultInjector, formatFaultStats } from '../helpers/fault-injection';
import type { RunOutcome, RunResult } from './runner';

export interface ReliabilitySummary {
  readonly runs: number;
  readonly outcomes: Readonly<Record<RunOutcome, number>>;
  readonly uploadsCompleted: number;
  readonly bytesVerified: number;
  readonly orphans: readonly string[];
  readonly anomalies: readonly string[];
  readonly clientInput5xx: number;
  readonly backendFault5xx: number;
  readonly lifecycleLeftovers: number;
  readonly invocations: number;
  readonly notificationRuns: number;
  readonly notifications: number;
  readonly applicationErrorsInjected: number;
  readonly repliesVerified: number;
  readonly lines: readonly string[];
}

const sum = (results: readonly RunResult[], pick: (result: RunResult) => number): number =>
  results.reduce((total, result) => total + pick(result), 0);

/** Aggregates the runs into the printed report. */
export function summarize(
  results: readonly RunResult[],
  injector: FaultInjector,
  wallMs: number,
): ReliabilitySummary {
  const outcomes: Record<RunOutcome, number> = {
    completed: 0,
    cancelled: 0,
    abandoned: 0,
    'gave-up': 0,
    refused: 0,
  };
  for (const result of results) outcomes[result.outcome] += 1;
  const answers = new Map<string, number>();
  for (const result of results) {
    for (const [name, count] of result.answers) answers.set(name, (answers.get(name) ?? 0) + count);
  }
  const orphans = results.flatMap((result) =>
    result.orphans.map((orphan) => `seed ${result.seed}: ${orphan}`),
  );
  const anomalies = results.flatMap((result) => result.anomalies);
  const uploadsCompleted = results.filter((result) => result.outcome === 'completed').length;
  const bytesVerified = sum(results, (result) => result.bytesVerified);
  const clientInput5xx = sum(results, (result) => result.clientInput5xx);
  const backendFault5xx = sum(results, (result) => result.backendFault5xx);
  const lifecycleLeftovers = sum(results, (result) => result.lifecycleLeftovers);
  const invocations = sum(results, (result) => result.invocations);
  const faultLines = formatFaultStats(injector.stats());
  const notificationRuns = results.filter((result) => result.scenario.notification !== undefined);
  const byValueRuns = notificationRuns.filter((result) => result.scenario.notification?.type === 'by-value');
  const notifications = sum(results, (result) => result.notifications);
  const applicationErrorsInjected = sum(results, (result) => result.applicationErrorsInjected);
  const repliesVerified = sum(results, (result) => result.repliesVerified);
  const sizes = results.map((result) => result.scenario.fileSize);
  const lines = [
    '── BITS reliability report ──',
    `runs                    ${results.length} (${(wallMs / 1000).toFixed(1)} s wall)`,
    `outcomes                ${Object.entries(outcomes)
      .map(([name, count]) => `${name} ${count}`)
      .join(', ')}`,
    `file sizes              0 … ${Math.max(0, ...sizes)} bytes; ${sizes.filter((size) => size > 5 * 1024 * 1024).length} runs over one 5 MiB part`,
    `handler invocations     ${invocations} (sweeps ${sum(results, (result) => result.sweeps)}, sessions ${sum(results, (result) => result.sessions)}, restarts ${sum(results, (result) => result.restarts)}, idle past timeout ${sum(results, (result) => result.idlePeriods)})`,
    'faults injected by kind (command counts):',
    ...(faultLines.length === 0 ? ['  none'] : faultLines.map((line) => `  ${line}`)),
    `uploads completed       ${uploadsCompleted} (sha256 verified: ${bytesVerified} bytes)`,
    `completed, unacked      ${results.filter((result) => result.completedUnacknowledged).length} (object complete and correct; the client saw no successful Close)`,
    `backend-fault 5xx       ${backendFault5xx} (answers of invocations with an injected fault)`,
    `crashes swallowed       ${sum(results, (result) => result.swallowedCrashes)} (handler answered after an injected crash; the client saw 502)`,
    `lifecycle-only uploads  ${lifecycleLeftovers} (started by a Create-Session that died before recording them)`,
    `left after finishing    ${sum(results, (result) => result.leftAfterFinish)} sessions (storage a Close/Cancel/discard that died half-way left; removed by the tombstone sweep)`,
    `notification runs       ${notificationRuns.length} (by-value ${byValueRuns.length}, by-reference ${notificationRuns.length - byValueRuns.length}; in-process Lambda-style function)`,
    `notifications           ${notifications} (function calls; application errors injected ${applicationErrorsInjected}, context 0x7 answers ${sum(results, (result) => result.applicationErrorAnswers)})`,
    `replies verified        ${repliesVerified} (downloaded with ranges, equal to the function's answer)`,
    `orphans found           ${orphans.length} (reply objects included)`,
    `500s on client input    ${clientInput5xx}`,
    `anomalies               ${anomalies.length}`,
    'answers:',
    ...[...answers.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, count]) => `  ${name.padEnd(40)} ${count}`),
    ...orphans.slice(0, 20).map((orphan) => `ORPHAN ${orphan}`),
    ...anomalies.slice(0, 20).map((text) => `ANOMALY ${text}`),
  ];
  return {
    runs: results.length,
    outcomes,
    uploadsCompleted,
    bytesVerified,
    orphans,
    anomalies,
    clientInput5xx,
    backendFault5xx,
    lifecycleLeftovers,
    invocations,
    notificationRuns: notificationRuns.length,
    notifications,
    applicationErrorsInjected,
    repliesVerified,
    lines,
  };
}
