import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { BitsErrorName } from '../protocol/errors';
import { PACKET_TYPES, type PacketType } from '../protocol/packet-types';

/** CloudWatch namespace of every metric the function emits. */
export const METRICS_NAMESPACE = 'BitsUpload';
/** Value of the `service` dimension (Powertools' default dimension). */
export const METRICS_SERVICE = 'bits-upload';

/**
 * Every metric and its unit (lambda/observability/README.md lists what each one means). Units live
 * here only, so a metric can never be emitted with two different units.
 */
export const METRICS = {
  // Per request, recorded by create-handler.
  Requests: MetricUnit.Count,
  Latency: MetricUnit.Milliseconds,
  BytesReceived: MetricUnit.Bytes,
  FragmentBytes: MetricUnit.Bytes,
  BitsErrors: MetricUnit.Count,
  // Session outcomes, recorded by the Close-Session and Cancel-Session handlers.
  UploadsCompleted: MetricUnit.Count,
  UploadBytes: MetricUnit.Bytes,
  UploadsCancelled: MetricUnit.Count,
  UploadsDiscarded: MetricUnit.Count,
  // Assembler work, recorded by store-fragment.
  BytesCommitted: MetricUnit.Bytes,
  PartsUploaded: MetricUnit.Count,
  StagedBytes: MetricUnit.Bytes,
  MergedChunks: MetricUnit.Count,
  StagedBytesRead: MetricUnit.Bytes,
  CommitConflicts: MetricUnit.Count,
  // Upload-reply, recorded by the final fragment (handlers/upload-reply.ts).
  Notifications: MetricUnit.Count,
  NotificationFailures: MetricUnit.Count,
  NotificationLatency: MetricUnit.Milliseconds,
} as const;

export type MetricName = keyof typeof METRICS;

/** Dimension names; values are all from small fixed sets (never a session id, key or principal). */
export const DIMENSIONS = {
  packetType: 'PacketType',
  status: 'Status',
  errorName: 'ErrorName',
} as const;

/** PacketType dimension value: the normalised packet type, or `unknown` for anything a client made up. */
export type PacketTypeDimension = PacketType | 'unknown';

/** Normalises a raw BITS-Packet-Type header the way the request parser does, without throwing. */
export function packetTypeDimension(raw: string | undefined): PacketTypeDimension {
  const value = raw?.trim().toLowerCase();
  return PACKET_TYPES.find((type) => type === value) ?? 'unknown';
}

/** How one request ended, as create-handler saw it. */
export interface RequestOutcome {
  readonly packetType: PacketTypeDimension;
  /** HTTP status of the answer (200, 416 or an error's status). */
  readonly status: number;
  /** Set when the answer is a BITS error. */
  readonly errorName?: BitsErrorName;
  readonly bodyBytes: number;
  readonly latencyMs: number;
}

export const createPowertoolsMetrics = (): Metrics =>
  new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });

/**
 * CloudWatch metrics in embedded metric format (EMF: JSON lines on stdout, no API calls), on top of
 * Powertools Metrics. The instance in HandlerDeps is shared by all requests; create-handler takes a
 * `forRequest()` copy per invocation, hands it to the packet handler, which `record`s into it, and
 * publishes it once at the end. Nothing reaches Powertools until that synchronous publish, so
 * requests running concurrently (local server, Lambda managed instances) never mix their data.
 */
export class BitsMetrics {
  readonly #emf: Metrics;
  readonly #recorded: Array<readonly [MetricName, number]> = [];

  constructor(emf: Metrics = createPowertoolsMetrics()) {
    this.#emf = emf;
  }

  /** A fresh recorder for one request, publishing to the same Powertools instance. */
  forRequest(): BitsMetrics {
    return new BitsMetrics(this.#emf);
  }

  /** Adds a data point; EMF keeps every value, so distributions (sizes, latencies) survive. */
  record(name: MetricName, value: number): void {
    this.#recorded.push([name, value]);
  }

  /**
   * Writes one EMF line: the request's own metrics and everything recorded, under the dimension
   * sets (service) and (service, PacketType, Status). A BITS error adds a BitsErrors line under
   * (service) and (service, ErrorName); the first invocation of an on-demand execution environment a
   * ColdStart line. Dimension sets share no key but `service`: Powertools warns on every publish
   * when two sets name the same dimension, and CloudWatch Metrics Insights can GROUP BY PacketType
   * alone over the (service, PacketType, Status) schema anyway.
   */
  publish(outcome: RequestOutcome, context?: Context): void {
    const emf = this.#emf;
    if (context !== undefined) emf.captureColdStartMetric(context.functionName);
    emf.addDimensions({});
    emf.addDimension(DIMENSIONS.packetType, outcome.packetType);
    emf.addDimension(DIMENSIONS.status, String(outcome.status));
    const add = (name: MetricName, value: number) => emf.addMetric(name, METRICS[name], value);
    add('Requests', 1);
    add('Latency', outcome.latencyMs);
    add('BytesReceived', outcome.bodyBytes);
    if (outcome.packetType === 'fragment') add('FragmentBytes', outcome.bodyBytes);
    for (const [name, value] of this.#recorded.splice(0)) add(name, value);
    emf.publishStoredMetrics();
    if (outcome.errorName !== undefined) {
      const error = emf.singleMetric();
      error.addDimensions({});
      error.addDimension(DIMENSIONS.errorName, outcome.errorName);
      error.addMetric('BitsErrors', METRICS.BitsErrors, 1);
    }
  }
}
