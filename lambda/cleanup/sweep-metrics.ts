import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '../observability/metrics';
import type { SweepReport } from './sweeper';

/**
 * The sweeper's metrics and their units, one value each per run, in the BITS function's namespace
 * under the dimension set (service) alone. Kept apart from the function's METRICS table: different
 * code publishes them, and no name appears in both.
 */
export const SWEEP_METRICS = {
  /** Records the scan listed as expired past the grace period, handled or not. */
  ExpiredSessionsFound: MetricUnit.Count,
  /** Abandoned sessions whose storage was released. */
  SessionsSwept: MetricUnit.Count,
  /** Expired tombstones cleaned up and deleted. */
  TombstonesForgotten: MetricUnit.Count,
  /** Records whose handling threw (the run ends with SweepIncompleteError). */
  SweepFailures: MetricUnit.Count,
  /** Expired records this run did not release: failures plus those it stopped before. */
  ExpiredSessionsLeft: MetricUnit.Count,
} as const;

export type SweepMetricName = keyof typeof SWEEP_METRICS;

/** What one run's report publishes. Zeros are published too: an alarm needs them to recover. */
export function sweepMetricValues(report: SweepReport): Record<SweepMetricName, number> {
  return {
    ExpiredSessionsFound: report.candidates + report.left,
    SessionsSwept: report.discarded,
    TombstonesForgotten: report.forgotten,
    SweepFailures: report.failed,
    ExpiredSessionsLeft: report.failed + report.left,
  };
}

/** Publishes a run's report as one EMF line (JSON on stdout; no API call, no IAM permission). */
export class SweepMetrics {
  readonly #emf: Metrics;

  constructor(emf: Metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE })) {
    this.#emf = emf;
  }

  publish(report: SweepReport): void {
    const values = sweepMetricValues(report);
    for (const name of Object.keys(SWEEP_METRICS) as SweepMetricName[]) {
      this.#emf.addMetric(name, SWEEP_METRICS[name], values[name]);
    }
    this.#emf.publishStoredMetrics();
  }
}
