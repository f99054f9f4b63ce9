import { DEFAULT_PART_BUFFER_BYTES } from './assembler/part-buffers';

const MiB = 1024 * 1024;
const DAY = 24 * 3600;

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
  /**
   * Memory one environment may keep for sessions' current parts (lambda/assembler/part-buffers.ts),
   * so the next fragments of a part need not read their staged chunks back; 0 turns it off.
   */
  readonly partBufferBytes: number;
  /** Sessions expire this long after their last progress (§12 D21). */
  readonly sessionTimeoutSeconds: number;
  /** ... and at the latest this long after creation (the lifecycle rules' horizon, minus a margin). */
  readonly maxSessionAgeSeconds: number;
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
  /**
   * Who the caller is (README "Security"): `none` makes everyone `anonymous`; `basic` checks HTTP
   * Basic credentials against salted scrypt hashes in an SSM SecureString parameter; `upstream`
   * trusts the identity an API Gateway authorizer or ALB mutual TLS established.
   */
  readonly authMode: AuthMode;
  /** Name of the SSM SecureString parameter holding the user records; set exactly when authMode is basic. */
  readonly authParameter: string | undefined;
  /** How long one read of the parameter is reused by a function instance. */
  readonly authCacheSeconds: number;
  /** Realm of the Basic challenge (WWW-Authenticate). */
  readonly authRealm: string;
  /** Destination keys become `<keyPrefix><principal>/<url path>`, so principals cannot overwrite each other. */
  readonly principalPrefix: boolean;
  /** Open, unexpired sessions one principal may hold; 0 means no limit. */
  readonly maxSessionsPerPrincipal: number;
  /**
   * Upload-reply (README "Upload-reply and notifications"): `none` acks the final fragment as a
   * plain upload; `by-reference` tells the application where the completed object is;
   * `by-value` sends the object itself.
   */
  readonly notificationType: NotificationType;
  /** The application as an http(s) URL; set exactly when the type is not none and no function is. */
  readonly notificationUrl: string | undefined;
  /** The application as a Lambda function name or ARN; the alternative to notificationUrl. */
  readonly notificationFunction: string | undefined;
  /** The application must answer within this; kept below the 29-s function timeout (T44). */
  readonly notificationTimeoutSeconds: number;
  /** Replies live under `<replyPrefix><session id>/` (lambda/protocol/reply.ts names the keys). */
  readonly replyPrefix: string;
}

export const NOTIFICATION_TYPES = ['none', 'by-reference', 'by-value'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];
/**
 * The API Gateway HTTP API integration timeout is 30 s (platform.md §2); the function must give up
 * first so the client sees our answer, not a gateway 503. The ALB front uses the same bound, and
 * the local server gives each request as long (infra/settings.ts deploys it).
 */
export const FUNCTION_TIMEOUT_SECONDS = 29;
/** The function times out at 29 s and API Gateway at 30 s: the application's answer must come first. */
export const MAX_NOTIFICATION_TIMEOUT_SECONDS = 25;

export const AUTH_MODES = ['none', 'basic', 'upstream'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** IIS's BITSNumberOfSessionsLimit default (bits-protocol.md §8): the recommended limit when auth is on. */
export const RECOMMENDED_MAX_SESSIONS_PER_PRINCIPAL = 50;

/** Environment variables read by loadConfig, with their defaults (README "Configuration"). */
export const CONFIG_ENV = {
  tableName: 'BITS_TABLE_NAME',
  bucketName: 'BITS_BUCKET_NAME',
  maxFragmentSize: 'BITS_MAX_FRAGMENT_SIZE',
  maxUploadSize: 'BITS_MAX_UPLOAD_SIZE',
  partSize: 'BITS_PART_SIZE',
  partBufferBytes: 'BITS_PART_BUFFER_BYTES',
  sessionTimeoutSeconds: 'BITS_SESSION_TIMEOUT_SECONDS',
  maxSessionAgeSeconds: 'BITS_MAX_SESSION_AGE_SECONDS',
  tombstoneSeconds: 'BITS_TOMBSTONE_SECONDS',
  keyPrefix: 'BITS_KEY_PREFIX',
  stagingPrefix: 'BITS_STAGING_PREFIX',
  allowOverwrites: 'BITS_ALLOW_OVERWRITES',
  logLevel: 'BITS_LOG_LEVEL',
  authMode: 'BITS_AUTH_MODE',
  authParameter: 'BITS_AUTH_PARAMETER',
  authCacheSeconds: 'BITS_AUTH_CACHE_SECONDS',
  authRealm: 'BITS_AUTH_REALM',
  principalPrefix: 'BITS_PRINCIPAL_PREFIX',
  maxSessionsPerPrincipal: 'BITS_MAX_SESSIONS_PER_PRINCIPAL',
  notificationType: 'BITS_NOTIFICATION_TYPE',
  notificationUrl: 'BITS_NOTIFICATION_URL',
  notificationFunction: 'BITS_NOTIFICATION_FUNCTION',
  notificationTimeoutSeconds: 'BITS_NOTIFICATION_TIMEOUT_SECONDS',
  replyPrefix: 'BITS_REPLY_PREFIX',
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

function readAuthMode(env: Env, name: string): AuthMode {
  const raw = env[name];
  if (raw === undefined || raw === '') return 'none';
  const mode = AUTH_MODES.find((candidate) => candidate === raw.toLowerCase());
  if (mode === undefined)
    throw new ConfigError(`${name} must be one of ${AUTH_MODES.join(', ')}, got "${raw}"`);
  return mode;
}

/** SSM parameter names: letters, digits and `_.-/`, at most 2048 characters, no `aws`/`ssm` prefix. */
const SSM_PARAMETER_NAME = /^\/?[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

/**
 * The parameter is required for `basic` and refused otherwise: a parameter set with the mode left
 * at `none` would look protected while accepting everyone.
 */
function readAuthParameter(env: Env, name: string, mode: AuthMode): string | undefined {
  const raw = env[name];
  const value = raw === undefined || raw === '' ? undefined : raw;
  if (mode !== 'basic') {
    if (value !== undefined) {
      throw new ConfigError(`${name} is set but ${CONFIG_ENV.authMode} is "${mode}": set it to basic`);
    }
    return undefined;
  }
  if (value === undefined) throw new ConfigError(`${name} is required when ${CONFIG_ENV.authMode} is basic`);
  if (value.length > 2048 || !SSM_PARAMETER_NAME.test(value) || /^\/?(aws|ssm)/i.test(value)) {
    throw new ConfigError(`${name} must be an SSM parameter name such as /bits/users, got "${value}"`);
  }
  return value;
}

/** The realm goes inside a quoted-string: printable ASCII without double quotes or backslashes. */
function readRealm(env: Env, name: string): string {
  const value = env[name] ?? '';
  if (value === '') return 'BITS upload';
  if (value.length > 128 || !/^[\x20-\x7e]+$/.test(value) || /["\\]/.test(value)) {
    throw new ConfigError(
      `${name} must be at most 128 printable ASCII characters without quotes or backslashes`,
    );
  }
  return value;
}

function readNotificationType(env: Env, name: string): NotificationType {
  const raw = env[name];
  if (raw === undefined || raw === '') return 'none';
  const type = NOTIFICATION_TYPES.find((candidate) => candidate === raw.toLowerCase());
  if (type === undefined)
    throw new ConfigError(`${name} must be one of ${NOTIFICATION_TYPES.join(', ')}, got "${raw}"`);
  return type;
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** Lambda function names, partial or full ARNs, optionally with a version or alias qualifier. */
const LAMBDA_FUNCTION =
  /^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$/;

/**
 * Exactly one target when notifications are on, none when off: a target set with the type left at
 * none would look wired up while never being called.
 */
function readNotificationTarget(
  env: Env,
  type: NotificationType,
): Pick<Config, 'notificationUrl' | 'notificationFunction'> {
  const url = optional(env, CONFIG_ENV.notificationUrl);
  const fn = optional(env, CONFIG_ENV.notificationFunction);
  if (type === 'none') {
    if (url !== undefined || fn !== undefined) {
      throw new ConfigError(
        `${url === undefined ? CONFIG_ENV.notificationFunction : CONFIG_ENV.notificationUrl} is set but ${CONFIG_ENV.notificationType} is none`,
      );
    }
    return { notificationUrl: undefined, notificationFunction: undefined };
  }
  if ((url === undefined) === (fn === undefined)) {
    throw new ConfigError(
      `exactly one of ${CONFIG_ENV.notificationUrl} and ${CONFIG_ENV.notificationFunction} is required when ${CONFIG_ENV.notificationType} is ${type}`,
    );
  }
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw new ConfigError(`${CONFIG_ENV.notificationUrl} must be an http or https URL, got "${url}"`);
    }
  }
  if (fn !== undefined && (fn.length > 170 || !LAMBDA_FUNCTION.test(fn))) {
    throw new ConfigError(
      `${CONFIG_ENV.notificationFunction} must be a Lambda function name or ARN, got "${fn}"`,
    );
  }
  return { notificationUrl: url, notificationFunction: fn };
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
  const replyPrefix = readPrefix(env, CONFIG_ENV.replyPrefix, 'bits-replies/');
  if (
    replyPrefix === '' ||
    [keyPrefix, stagingPrefix].some((other) => other.startsWith(replyPrefix) || replyPrefix.startsWith(other))
  ) {
    throw new ConfigError(
      `${CONFIG_ENV.replyPrefix} must be non-empty and apart from ${CONFIG_ENV.keyPrefix} and ${CONFIG_ENV.stagingPrefix} (got "${replyPrefix}")`,
    );
  }
  const authMode = readAuthMode(env, CONFIG_ENV.authMode);
  const notificationType = readNotificationType(env, CONFIG_ENV.notificationType);
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
    partBufferBytes: readInteger(
      env,
      CONFIG_ENV.partBufferBytes,
      DEFAULT_PART_BUFFER_BYTES,
      0,
      8 * 1024 * MiB,
    ),
    sessionTimeoutSeconds: readInteger(
      env,
      CONFIG_ENV.sessionTimeoutSeconds,
      14 * 24 * 3600,
      60,
      365 * 24 * 3600,
    ),
    maxSessionAgeSeconds: readInteger(env, CONFIG_ENV.maxSessionAgeSeconds, 30 * DAY, 60, 365 * DAY),
    tombstoneSeconds: readInteger(env, CONFIG_ENV.tombstoneSeconds, 24 * 3600, 60, 365 * 24 * 3600),
    keyPrefix,
    stagingPrefix,
    allowOverwrites: readBoolean(env, CONFIG_ENV.allowOverwrites, false),
    logLevel: readLogLevel(env, CONFIG_ENV.logLevel),
    authMode,
    authParameter: readAuthParameter(env, CONFIG_ENV.authParameter, authMode),
    authCacheSeconds: readInteger(env, CONFIG_ENV.authCacheSeconds, 60, 0, 24 * 3600),
    authRealm: readRealm(env, CONFIG_ENV.authRealm),
    principalPrefix: readBoolean(env, CONFIG_ENV.principalPrefix, false),
    maxSessionsPerPrincipal: readInteger(env, CONFIG_ENV.maxSessionsPerPrincipal, 0, 0, 100_000),
    notificationType,
    ...readNotificationTarget(env, notificationType),
    notificationTimeoutSeconds: readInteger(
      env,
      CONFIG_ENV.notificationTimeoutSeconds,
      20,
      1,
      MAX_NOTIFICATION_TIMEOUT_SECONDS,
    ),
    replyPrefix,
  });
}
