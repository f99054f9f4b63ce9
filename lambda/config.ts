const MiB = 1024 * 1024;

/** S3 limits (platform.md §3). */
export const S3_MIN_PART_SIZE = 5 * MiB;
export const S3_MAX_PART_SIZE = 5 * 1024 * MiB;
export const S3_MAX_PARTS = 10_000;
export const S3_MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB;
/** A fragment holds at most one part in memory; also keeps staged-chunk levels below 31 (plan-fragment.ts). */
export const MAX_CONFIGURED_PART_SIZE = 1024 * MiB;

/**
 * Largest raw fragment that fits a 6 MB synchronous Lambda event once base64-encoded (4/3) with
 * room for headers: about 4.4 MiB (platform.md §2).
 */
export const DEFAULT_MAX_FRAGMENT_SIZE = Math.floor(4.4 * MiB);

export interface Config {
  /** Fragment bodies above this get 413 so clients shrink (§12 D11). */
  readonly maxFragmentSize: number;
  /** Declared totals above this get BG_E_TOO_LARGE (§12 D10). */
  readonly maxUploadSize: number;
  /** Preferred S3 part size; raised for large files to stay within 10,000 parts. */
  readonly partSize: number;
  /** Sessions expire this long after their last progress (§12 D21). */
  readonly sessionTimeoutSeconds: number;
  /** Closed and cancelled session records are kept this long so a retried Close/Cancel is acked again. */
  readonly tombstoneSeconds: number;
  /** Destination keys are `<keyPrefix><url path>`. */
  readonly keyPrefix: string;
  /** Staged chunks live under `<stagingPrefix><session id>/`. */
  readonly stagingPrefix: string;
  readonly allowOverwrites: boolean;
  readonly tableName: string;
  readonly bucketName: string;
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
}

/** Environment variables read by loadConfig, with their defaults (README "Configuration"). */
export const CONFIG_ENV = {
  tableName: 'BITS_TABLE_NAME',
  bucketName: 'BITS_BUCKET_NAME',
  maxFragmentSize: 'BITS_MAX_FRAGMENT_SIZE',
  maxUploadSize: 'BITS_MAX_UPLOAD_SIZE',
  partSize: 'BITS_PART_SIZE',
  sessionTimeoutSeconds: 'BITS_SESSION_TIMEOUT_SECONDS',
  tombstoneSeconds: 'BITS_TOMBSTONE_SECONDS',
  keyPrefix: 'BITS_KEY_PREFIX',
  stagingPrefix: 'BITS_STAGING_PREFIX',
  allowOverwrites: 'BITS_ALLOW_OVERWRITES',
  logLevel: 'BITS_LOG_LEVEL',
} as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function readInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw))
    throw new ConfigError(`${name} must be a whole number of bytes or seconds, got "${raw}"`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${raw}`);
  }
  return value;
}

function readPrefix(env: Env, name: string, fallback: string): string {
  const value = env[name] ?? fallback;
  if (value !== '' && (!value.endsWith('/') || value.startsWith('/') || value.includes('//'))) {
    throw new ConfigError(`${name} must be empty or a relative key prefix ending in "/", got "${value}"`);
  }
  return value;
}

function readRequired(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`${name} is required`);
  return value;
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;

function readLogLevel(env: Env, name: string): Config['logLevel'] {
  const raw = (env[name] ?? 'INFO').toUpperCase();
  const level = LOG_LEVELS.find((candidate) => candidate === raw);
  if (level === undefined)
    throw new ConfigError(`${name} must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return level;
}

/** Validates and freezes the configuration; the only reader of the environment. */
export function loadConfig(env: Env): Config {
  const stagingPrefix = readPrefix(env, CONFIG_ENV.stagingPrefix, 'bits-staging/');
  const keyPrefix = readPrefix(env, CONFIG_ENV.keyPrefix, 'uploads/');
  if (stagingPrefix === '' || keyPrefix.startsWith(stagingPrefix) || stagingPrefix.startsWith(keyPrefix)) {
    throw new ConfigError(
      `${CONFIG_ENV.stagingPrefix} must be non-empty and apart from ${CONFIG_ENV.keyPrefix} (got "${stagingPrefix}" and "${keyPrefix}")`,
    );
  }
  return Object.freeze({
    tableName: readRequired(env, CONFIG_ENV.tableName),
    bucketName: readRequired(env, CONFIG_ENV.bucketName),
    maxFragmentSize: readInteger(
      env,
      CONFIG_ENV.maxFragmentSize,
      DEFAULT_MAX_FRAGMENT_SIZE,
      1,
      S3_MAX_PART_SIZE,
    ),
    maxUploadSize: readInteger(env, CONFIG_ENV.maxUploadSize, S3_MAX_OBJECT_SIZE, 0, S3_MAX_OBJECT_SIZE),
    partSize: readInteger(env, CONFIG_ENV.partSize, 8 * MiB, S3_MIN_PART_SIZE, MAX_CONFIGURED_PART_SIZE),
    sessionTimeoutSeconds: readInteger(
      env,
      CONFIG_ENV.sessionTimeoutSeconds,
      14 * 24 * 3600,
      60,
      365 * 24 * 3600,
    ),
    tombstoneSeconds: readInteger(env, CONFIG_ENV.tombstoneSeconds, 24 * 3600, 60, 365 * 24 * 3600),
    keyPrefix,
    stagingPrefix,
    allowOverwrites: readBoolean(env, CONFIG_ENV.allowOverwrites, false),
    logLevel: readLogLevel(env, CONFIG_ENV.logLevel),
  });
}
