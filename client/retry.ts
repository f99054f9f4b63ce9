import { UsageError } from './errors';

/**
 * Bounds on transient failures (network errors, 5xx other than fatal BITS errors, 408, 429). The
 * bounds apply to a streak of failures: an answered request starts a new streak, so a long upload
 * over a flaky link keeps going as long as it makes progress, as a Windows job does.
 */
export interface RetryPolicy {
  /** Retries allowed in one streak; 0 fails on the first transient error. */
  readonly retries: number;
  /** First delay; each retry doubles it. */
  readonly baseDelayMs: number;
  /** Ceiling for one delay (and for a server's Retry-After). */
  readonly maxDelayMs: number;
  /** A streak that has lasted this long gives up even with retries left. */
  readonly maxElapsedMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  retries: 5,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  maxElapsedMs: 120_000,
});

export function resolveRetryPolicy(partial: Partial<RetryPolicy> | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY, ...partial };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new UsageError(`retry ${name} must be a whole number ≥ 0, got ${value}`);
    }
  }
  return policy;
}

/**
 * Delay before retry number `attempt` (1-based): exponential with "equal jitter" — half fixed,
 * half random — so delays still grow while parallel clients spread out. A server's Retry-After
 * raises it, never lowers it; both are capped at `maxDelayMs`.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
  retryAfterMs?: number,
): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  return Math.round(Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0)));
}

/** `Retry-After` in seconds (RFC 9110 §10.2.3); the HTTP-date form is ignored. */
export function parseRetryAfter(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\s*\d{1,9}\s*$/.test(raw)) return undefined;
  return Number(raw) * 1000;
}
