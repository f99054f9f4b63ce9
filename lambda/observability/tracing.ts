import type { Tracer } from '@aws-lambda-powertools/tracer';
import { ConfigError } from '../config';
import { METRICS_SERVICE } from './metrics';

/**
 * `true` turns Powertools Tracer on. The stack sets it together with X-Ray active tracing (the
 * `tracing` setting); unset or `false`, the tracer is never loaded.
 */
export const TRACING_ENV = 'BITS_TRACING';

/** Instruments one AWS SDK v3 client so its calls become X-Ray subsegments; returns the same client. */
export type ClientCapture = <T>(client: T) => T;

type Env = Readonly<Record<string, string | undefined>>;

/** Reads BITS_TRACING; a bad value stops start-up with an error naming the variable. */
export function tracingEnabled(env: Env): boolean {
  const raw = env[TRACING_ENV];
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(`${TRACING_ENV} must be true or false, got "${raw}"`);
}

/**
 * Powertools Tracer, loaded on demand. `require` rather than `import`: esbuild keeps a required
 * module unevaluated until the call runs, so with tracing off the function never evaluates the tracer
 * and the X-Ray SDK beneath it (about 130 KiB of the bundle).
 */
export function loadTracer(): Tracer {
  const powertools =
    require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
  return new powertools.Tracer({ serviceName: METRICS_SERVICE });
}

/**
 * How the SDK clients are captured: with tracing on, by Powertools Tracer (`captureAWSv3Client`),
 * so every AWS call shows up as a subsegment of the invocation's trace; off, not at all (undefined).
 */
export function clientCapture(env: Env, load: () => Pick<Tracer, 'captureAWSv3Client'> = loadTracer) {
  if (!tracingEnabled(env)) return undefined;
  const tracer = load();
  const capture: ClientCapture = (client) => tracer.captureAWSv3Client(client);
  return capture;
}
