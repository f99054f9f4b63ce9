import { ConfigError } from '../config';
import { DEFAULT_SWEEPER_OPTIONS, type SweeperOptions } from './sweeper';

/** The sweeper's own environment variables; it also reads the BITS function's (lambda/config.ts). */
export const SWEEPER_ENV = {
  graceSeconds: 'BITS_SWEEP_GRACE_SECONDS',
  maxSessions: 'BITS_SWEEP_MAX_SESSIONS',
  pageSize: 'BITS_SWEEP_PAGE_SIZE',
} as const;

export interface SweeperSettings {
  readonly options: SweeperOptions;
  /** Scan page size (items evaluated per page); undefined means DynamoDB's 1 MB pages. */
  readonly pageSize: number | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

function readInteger(env: Env, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

/** Validates the sweeper's settings; a bad value stops start-up with an error naming the variable. */
export function loadSweeperSettings(env: Env): SweeperSettings {
  return {
    options: {
      ...DEFAULT_SWEEPER_OPTIONS,
      // At least the BITS function's 29 s timeout, so no invocation can still be writing.
      graceSeconds:
        readInteger(env, SWEEPER_ENV.graceSeconds, 30, 7 * 24 * 3600) ?? DEFAULT_SWEEPER_OPTIONS.graceSeconds,
      maxSessions:
        readInteger(env, SWEEPER_ENV.maxSessions, 1, 100_000) ?? DEFAULT_SWEEPER_OPTIONS.maxSessions,
    },
    pageSize: readInteger(env, SWEEPER_ENV.pageSize, 1, 10_000),
  };
}
