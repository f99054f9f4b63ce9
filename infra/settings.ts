import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { DEFAULT_SWEEPER_OPTIONS } from '../lambda/cleanup/sweeper';
import { loadSweeperSettings, SWEEPER_ENV } from '../lambda/cleanup/sweeper-config';
import {
  AUTH_MODES,
  type AuthMode,
  CONFIG_ENV,
  type Config,
  DEFAULT_MAX_FRAGMENT_SIZE,
  FUNCTION_TIMEOUT_SECONDS,
  loadConfig,
  NOTIFICATION_TYPES,
  type NotificationType,
} from '../lambda/config';

export const FRONTS = ['http-api', 'alb'] as const;
/** How requests reach the function (platform.md §1): HTTP API (design default) or an ALB. */
export type Front = (typeof FRONTS)[number];

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const REMOVAL_POLICIES = ['retain', 'destroy'] as const;
export type RemovalSetting = (typeof REMOVAL_POLICIES)[number];

/**
 * ALB → Lambda carries at most 1 MB of request body (platform.md §2). Whether the ALB counts the raw
 * body or the base64 form the function receives is not documented, so the cap assumes the worse:
 * 720 KiB encodes to 983,040 base64 bytes, under 1,000,000 with room to spare. Fragments above it
 * get our 413, which makes BITS clients retry with smaller fragments (MC-BUP §3.1.5.2.4).
 */
export const ALB_MAX_FRAGMENT_SIZE = 720 * 1024;

/** Largest fragment each front can deliver to the function. */
export const FRONT_MAX_FRAGMENT_SIZE: Readonly<Record<Front, number>> = {
  'http-api': DEFAULT_MAX_FRAGMENT_SIZE,
  alb: ALB_MAX_FRAGMENT_SIZE,
};

/** Defined with the function's configuration, which the local server's request budget shares. */
export { FUNCTION_TIMEOUT_SECONDS };

/** S3 lifecycle rules run once a day; one extra day keeps them from racing a session that is still alive. */
export const LIFECYCLE_MARGIN_SECONDS = 24 * 3600;

/** Stack settings; each is also a context key of the same name (`-c key=value`, or cdk.json "context"). */
export interface BitsUploadSettings {
  /** @default 'http-api' */
  readonly front?: Front;
  /** Destination keys are `<keyPrefix><url path>`. @default 'uploads/' */
  readonly keyPrefix?: string;
  /** Staged chunks of open sessions. @default 'bits-staging/' */
  readonly stagingPrefix?: string;
  /** Declared totals above this are refused. @default 5 TiB (the S3 object limit) */
  readonly maxUploadSize?: number;
  /** Fragments above this get 413. @default the front's maximum (FRONT_MAX_FRAGMENT_SIZE) */
  readonly maxFragmentSize?: number;
  /** Preferred S3 part size in bytes. @default 8 MiB */
  readonly partSize?: number;
  /** Memory a function instance keeps for sessions' current parts (0: off). @default 64 MiB */
  readonly partBufferBytes?: number;
  /** Sessions expire this long after their last progress; drives the S3 lifecycle rules. @default 14 days */
  readonly sessionTimeoutSeconds?: number;
  /** Longest life of an open session from its creation; the lifecycle rules follow it. */
  readonly maxSessionAgeSeconds?: number;
  /** Closed/cancelled session records are kept this long. @default 1 day */
  readonly tombstoneSeconds?: number;
  /** @default false */
  readonly allowOverwrites?: boolean;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Create a customer-managed KMS key (rotated yearly) for the bucket and the table. @default false */
  readonly kms?: boolean;
  /** What happens to the bucket, table and log groups when the stack is deleted. @default 'retain' */
  readonly removalPolicy?: RemovalSetting;
  /** DynamoDB deletion protection. @default true, false when removalPolicy is 'destroy' */
  readonly deletionProtection?: boolean;
  /** S3 versioning on the upload bucket. @default false */
  readonly versioned?: boolean;
  /** Reserved concurrency of the function. @default none (account pool) */
  readonly reservedConcurrency?: number;
  /** S3 server access logs (and ALB access logs when the region is known) into a logs bucket. @default true */
  readonly accessLogs?: boolean;
  /** CloudWatch log retention, also the expiry of the access-log objects. @default 365 */
  readonly logRetentionDays?: number;
  /** Function memory in MB. @default 1024 */
  readonly memorySize?: number;
  /** X-Ray active tracing on the function. @default false */
  readonly tracing?: boolean;
  /** HTTP API default-stage throttling: steady requests per second. @default 200 */
  readonly throttleRateLimit?: number;
  /** HTTP API default-stage throttling: burst. @default 400 */
  readonly throttleBurstLimit?: number;
  /** Public host name of the service; needs certificateArn. */
  readonly domainName?: string;
  /** ACM certificate for domainName (HTTP API custom domain, or the ALB HTTPS listener). */
  readonly certificateArn?: string;
  /** `none`, `basic` (HTTP Basic against an SSM SecureString parameter) or `upstream`. @default 'none' */
  readonly authMode?: AuthMode;
  /** Name of the SSM SecureString parameter of Basic users; required with authMode 'basic'. */
  readonly authParameterName?: string;
  /** Customer-managed KMS key that encrypts the parameter; unset means the AWS managed key aws/ssm. */
  readonly authParameterKeyArn?: string;
  /** Realm of the Basic challenge. @default 'BITS upload' */
  readonly authRealm?: string;
  /** How long the function reuses one read of the parameter. @default 60 */
  readonly authCacheSeconds?: number;
  /** Put each principal's uploads under `<keyPrefix><principal>/`. @default false */
  readonly principalPrefix?: boolean;
  /** Open sessions one principal may hold; 0 is unlimited. @default 0 */
  readonly maxSessionsPerPrincipal?: number;
  /** Minutes between runs of the abandoned-session sweeper. @default 15 */
  readonly sweepIntervalMinutes?: number;
  /** The sweeper handles a record this long after it expired; at least 30 (BITS_SWEEP_GRACE_SECONDS). @default 300 */
  readonly sweepGraceSeconds?: number;
  /** An existing SNS topic (standard, same region) that every alarm notifies. */
  readonly alarmTopicArn?: string;
  /** Create an SNS topic for the alarms with this email address subscribed. */
  readonly alarmEmail?: string;
  /** Front 5xx answers, in percent of requests, that raise the front 5xx alarm. @default 10 */
  readonly alarm5xxPercent?: number;
  /** Deploy consumers/example as the target of the finished-upload rule. @default true */
  readonly exampleConsumer?: boolean;
  /** Upload-reply: call an application after the final fragment (`by-reference`, `by-value`). @default 'none' */
  readonly notificationType?: NotificationType;
  /** The application as an http(s) URL; with a type other than none, this or notificationFunctionArn. */
  readonly notificationUrl?: string;
  /** The application as a Lambda function ARN (a version or alias qualifier allowed); the function may invoke exactly it. */
  readonly notificationFunctionArn?: string;
  /** The application must answer within this many seconds. @default 20 */
  readonly notificationTimeoutSeconds?: number;
  /** Replies to uploads; expired by a lifecycle rule. @default 'bits-replies/' */
  readonly replyPrefix?: string;
}

/** Every setting resolved: props, then context, then defaults; validated. */
export interface ResolvedSettings {
  readonly front: Front;
  readonly kms: boolean;
  readonly removalPolicy: RemovalPolicy;
  readonly deletionProtection: boolean;
  readonly versioned: boolean;
  readonly reservedConcurrency: number | undefined;
  readonly accessLogs: boolean;
  readonly logRetention: RetentionDays;
  readonly memorySize: number;
  readonly tracing: boolean;
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly customDomain: { readonly domainName: string; readonly certificateArn: string } | undefined;
  /** The SSM parameter of Basic users and its key, when authMode is 'basic'. */
  readonly authParameter: { readonly name: string; readonly keyArn: string | undefined } | undefined;
  /** Whether the example consumer is the finished-upload rule's target. */
  readonly exampleConsumer: boolean;
  /** What the function will load, validated by its own loadConfig. */
  readonly config: Config;
  /** The abandoned-session sweeper: its schedule and its own variables (BITS_SWEEP_*). */
  readonly sweeper: {
    readonly intervalMinutes: number;
    readonly graceSeconds: number;
    readonly environment: Readonly<Record<string, string>>;
  };
  /** Where alarms notify (at most one of the two) and the thresholds that are settings. */
  readonly alarms: {
    readonly topicArn: string | undefined;
    readonly email: string | undefined;
    readonly front5xxPercent: number;
  };
  /** Lifecycle age (days) after which incomplete uploads are aborted and staged chunks expire. */
  readonly lifecycleDays: number;
  /**
   * Lifecycle age (days) of objects under the reply prefix: longer than a session holding a reply
   * can live after they are written (a whole session timeout from its Complete, past the maximum
   * session age if need be).
   */
  readonly replyLifecycleDays: number;
  /** The function's environment for CONFIG_ENV, table and bucket names excluded. */
  readonly functionEnvironment: Readonly<Record<string, string>>;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

type Reader<T> = (key: string, raw: unknown) => T;

/** Context from `-c key=value` arrives as a string; from cdk.json it may be typed. */
const readString: Reader<string> = (key, raw) => {
  if (typeof raw === 'string') return raw;
  throw new SettingsError(`context "${key}" must be a string, got ${JSON.stringify(raw)}`);
};

const readInteger: Reader<number> = (key, raw) => {
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
  if (!/^\d+$/.test(text)) {
    throw new SettingsError(`context "${key}" must be a whole number, got ${JSON.stringify(raw)}`);
  }
  return Number(text);
};

const readBoolean: Reader<boolean> = (key, raw) => {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new SettingsError(`context "${key}" must be true or false, got ${JSON.stringify(raw)}`);
};

const readOneOf =
  <T extends string>(values: readonly T[]): Reader<T> =>
  (key, raw) => {
    const found = values.find((value) => value === raw);
    if (found === undefined) {
      throw new SettingsError(
        `context "${key}" must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`,
      );
    }
    return found;
  };

const CONTEXT_READERS: { readonly [K in keyof Required<BitsUploadSettings>]: Reader<BitsUploadSettings[K]> } =
  {
    front: readOneOf(FRONTS),
    keyPrefix: readString,
    stagingPrefix: readString,
    maxUploadSize: readInteger,
    maxFragmentSize: readInteger,
    partSize: readInteger,
    partBufferBytes: readInteger,
    sessionTimeoutSeconds: readInteger,
    maxSessionAgeSeconds: readInteger,
    tombstoneSeconds: readInteger,
    allowOverwrites: readBoolean,
    logLevel: readOneOf(LOG_LEVELS),
    kms: readBoolean,
    removalPolicy: readOneOf(REMOVAL_POLICIES),
    deletionProtection: readBoolean,
    versioned: readBoolean,
    reservedConcurrency: readInteger,
    accessLogs: readBoolean,
    logRetentionDays: readInteger,
    memorySize: readInteger,
    tracing: readBoolean,
    throttleRateLimit: readInteger,
    throttleBurstLimit: readInteger,
    domainName: readString,
    certificateArn: readString,
    authMode: readOneOf(AUTH_MODES),
    authParameterName: readString,
    authParameterKeyArn: readString,
    authRealm: readString,
    authCacheSeconds: readInteger,
    principalPrefix: readBoolean,
    maxSessionsPerPrincipal: readInteger,
    sweepIntervalMinutes: readInteger,
    sweepGraceSeconds: readInteger,
    alarmTopicArn: readString,
    alarmEmail: readString,
    alarm5xxPercent: readInteger,
    exampleConsumer: readBoolean,
    notificationType: readOneOf(NOTIFICATION_TYPES),
    notificationUrl: readString,
    notificationFunctionArn: readString,
    notificationTimeoutSeconds: readInteger,
    replyPrefix: readString,
  };

/** The context keys the stack reads (README-config.md). */
export const CONTEXT_KEYS = Object.keys(CONTEXT_READERS) as readonly (keyof BitsUploadSettings)[];

/** Settings given as context (`cdk deploy -c front=alb`, or cdk.json "context"); absent keys are left out. */
export function settingsFromContext(node: Node): BitsUploadSettings {
  const settings: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const raw: unknown = node.tryGetContext(key);
    if (raw === undefined || raw === '') continue;
    settings[key] = CONTEXT_READERS[key](key, raw);
  }
  return settings as BitsUploadSettings;
}

const RETENTION_VALUES = new Set<number>(
  Object.values(RetentionDays).filter((value): value is number => typeof value === 'number'),
);

function positiveInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new SettingsError(`${name} must be a whole number between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** Props win over context, context over defaults; the function's part is checked by its own loadConfig. */
export function resolveSettings(props: BitsUploadSettings, context: BitsUploadSettings): ResolvedSettings {
  const merged: BitsUploadSettings = { ...context, ...definedOnly(props) };
  const front = merged.front ?? 'http-api';

  const frontMax = FRONT_MAX_FRAGMENT_SIZE[front];
  const maxFragmentSize = merged.maxFragmentSize ?? frontMax;
  if (maxFragmentSize > frontMax) {
    throw new SettingsError(
      `maxFragmentSize ${maxFragmentSize} is above what the ${front} front delivers (${frontMax} bytes)`,
    );
  }

  const configured: Partial<Record<keyof typeof CONFIG_ENV, string | number | boolean | undefined>> = {
    maxFragmentSize,
    maxUploadSize: merged.maxUploadSize,
    partSize: merged.partSize,
    partBufferBytes: merged.partBufferBytes,
    sessionTimeoutSeconds: merged.sessionTimeoutSeconds,
    maxSessionAgeSeconds: merged.maxSessionAgeSeconds,
    tombstoneSeconds: merged.tombstoneSeconds,
    keyPrefix: merged.keyPrefix,
    stagingPrefix: merged.stagingPrefix,
    allowOverwrites: merged.allowOverwrites,
    logLevel: merged.logLevel,
    authMode: merged.authMode,
    authParameter: merged.authParameterName,
    authRealm: merged.authRealm,
    authCacheSeconds: merged.authCacheSeconds,
    principalPrefix: merged.principalPrefix,
    maxSessionsPerPrincipal: merged.maxSessionsPerPrincipal,
    notificationType: merged.notificationType,
    notificationUrl: merged.notificationUrl,
    notificationFunction: merged.notificationFunctionArn,
    notificationTimeoutSeconds: merged.notificationTimeoutSeconds,
    replyPrefix: merged.replyPrefix,
  };
  checkAuth(front, merged);
  checkNotifications(merged);
  const env: Record<string, string> = {
    // Placeholders: the real names are tokens, known only at deploy time.
    [CONFIG_ENV.tableName]: 'table',
    [CONFIG_ENV.bucketName]: 'bucket',
  };
  for (const [field, value] of Object.entries(configured)) {
    if (value !== undefined) env[CONFIG_ENV[field as keyof typeof CONFIG_ENV]] = String(value);
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    throw new SettingsError(`invalid function setting: ${(error as Error).message}`, { cause: error });
  }

  const logRetentionDays = merged.logRetentionDays ?? 365;
  if (!RETENTION_VALUES.has(logRetentionDays)) {
    throw new SettingsError(
      `logRetentionDays must be a CloudWatch retention period, got ${logRetentionDays}`,
    );
  }

  const { domainName, certificateArn } = merged;
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new SettingsError('domainName and certificateArn go together: give both or neither');
  }

  const authParameter =
    config.authParameter === undefined
      ? undefined
      : {
          name: config.authParameter,
          keyArn: merged.authParameterKeyArn,
        };

  const reservedConcurrency =
    merged.reservedConcurrency === undefined
      ? undefined
      : positiveInteger('reservedConcurrency', merged.reservedConcurrency, 1, 10_000);

  return {
    front,
    sweeper: resolveSweeper(merged),
    alarms: resolveAlarms(merged),
    kms: merged.kms ?? false,
    removalPolicy: merged.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    // Protection would make a `destroy` stack undeletable, so it follows the removal policy unless set.
    deletionProtection: merged.deletionProtection ?? merged.removalPolicy !== 'destroy',
    versioned: merged.versioned ?? false,
    reservedConcurrency,
    accessLogs: merged.accessLogs ?? true,
    logRetention: logRetentionDays as RetentionDays,
    memorySize: positiveInteger('memorySize', merged.memorySize ?? 1024, 128, 10_240),
    tracing: merged.tracing ?? false,
    throttle: {
      rateLimit: positiveInteger('throttleRateLimit', merged.throttleRateLimit ?? 200, 1, 1_000_000),
      burstLimit: positiveInteger('throttleBurstLimit', merged.throttleBurstLimit ?? 400, 1, 1_000_000),
    },
    customDomain:
      domainName === undefined || certificateArn === undefined ? undefined : { domainName, certificateArn },
    authParameter,
    // On by default: one short invocation per finished upload (not per fragment), whose log line
    // is an audit record of who uploaded what; users replace it with their own target.
    exampleConsumer: merged.exampleConsumer ?? true,
    config,
    // Sessions never outlive maxSessionAgeSeconds from creation, which is what lifecycle rules count from.
    lifecycleDays: Math.max(1, Math.ceil((config.maxSessionAgeSeconds + LIFECYCLE_MARGIN_SECONDS) / 86_400)),
    // Replies are written after Complete, which gives the session a whole session timeout more.
    replyLifecycleDays: Math.max(
      1,
      Math.ceil(
        (Math.max(config.maxSessionAgeSeconds, config.sessionTimeoutSeconds) + LIFECYCLE_MARGIN_SECONDS) /
          86_400,
      ),
    ),
    functionEnvironment: {
      [CONFIG_ENV.keyPrefix]: config.keyPrefix,
      [CONFIG_ENV.stagingPrefix]: config.stagingPrefix,
      [CONFIG_ENV.maxUploadSize]: String(config.maxUploadSize),
      [CONFIG_ENV.maxFragmentSize]: String(config.maxFragmentSize),
      [CONFIG_ENV.partSize]: String(config.partSize),
      [CONFIG_ENV.partBufferBytes]: String(config.partBufferBytes),
      [CONFIG_ENV.sessionTimeoutSeconds]: String(config.sessionTimeoutSeconds),
      [CONFIG_ENV.maxSessionAgeSeconds]: String(config.maxSessionAgeSeconds),
      [CONFIG_ENV.tombstoneSeconds]: String(config.tombstoneSeconds),
      [CONFIG_ENV.allowOverwrites]: String(config.allowOverwrites),
      [CONFIG_ENV.logLevel]: config.logLevel,
      [CONFIG_ENV.authMode]: config.authMode,
      ...(config.authParameter === undefined ? {} : { [CONFIG_ENV.authParameter]: config.authParameter }),
      [CONFIG_ENV.authRealm]: config.authRealm,
      [CONFIG_ENV.authCacheSeconds]: String(config.authCacheSeconds),
      [CONFIG_ENV.principalPrefix]: String(config.principalPrefix),
      [CONFIG_ENV.maxSessionsPerPrincipal]: String(config.maxSessionsPerPrincipal),
      [CONFIG_ENV.notificationType]: config.notificationType,
      ...(config.notificationUrl === undefined
        ? {}
        : { [CONFIG_ENV.notificationUrl]: config.notificationUrl }),
      ...(config.notificationFunction === undefined
        ? {}
        : { [CONFIG_ENV.notificationFunction]: config.notificationFunction }),
      [CONFIG_ENV.notificationTimeoutSeconds]: String(config.notificationTimeoutSeconds),
      [CONFIG_ENV.replyPrefix]: config.replyPrefix,
    },
  };
}

/** The sweeper's schedule, and its variables checked by the sweeper's own loadSweeperSettings. */
function resolveSweeper(merged: BitsUploadSettings): ResolvedSettings['sweeper'] {
  // Up to 6 hours: the stuck-sessions alarm spans four intervals, and CloudWatch limits an alarm to a day.
  const intervalMinutes = positiveInteger('sweepIntervalMinutes', merged.sweepIntervalMinutes ?? 15, 1, 360);
  const environment = {
    [SWEEPER_ENV.graceSeconds]: String(merged.sweepGraceSeconds ?? DEFAULT_SWEEPER_OPTIONS.graceSeconds),
  };
  try {
    const { options } = loadSweeperSettings(environment);
    return { intervalMinutes, graceSeconds: options.graceSeconds, environment };
  } catch (error) {
    throw new SettingsError(`invalid sweeper setting: ${(error as Error).message}`, { cause: error });
  }
}

/** CloudWatch alarms publish to standard topics only (not FIFO). */
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function resolveAlarms(merged: BitsUploadSettings): ResolvedSettings['alarms'] {
  const { alarmTopicArn: topicArn, alarmEmail: email } = merged;
  if (topicArn !== undefined && email !== undefined) {
    throw new SettingsError(
      'give alarmTopicArn or alarmEmail, not both: subscribe the address to the existing topic instead',
    );
  }
  if (topicArn !== undefined && !SNS_TOPIC_ARN.test(topicArn)) {
    throw new SettingsError(`alarmTopicArn must be the ARN of a standard SNS topic, got ${topicArn}`);
  }
  if (email !== undefined && !EMAIL.test(email)) {
    throw new SettingsError(`alarmEmail must be an email address, got ${email}`);
  }
  return {
    topicArn,
    email,
    front5xxPercent: positiveInteger('alarm5xxPercent', merged.alarm5xxPercent ?? 10, 1, 100),
  };
}

/** The bound BITS puts on the URLs it handles (MC-BUP §2.2.1.2), applied to the application's URL too. */
export const MAX_NOTIFICATION_URL_CHARS = 2200;

/**
 * Full Lambda function ARNs, optionally qualified: the function's role is granted
 * lambda:InvokeFunction on exactly this ARN, which a bare name or partial ARN cannot express.
 */
const LAMBDA_FUNCTION_ARN =
  /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;

/**
 * The notification settings, in terms of context keys (loadConfig checks them again, in terms of
 * variables): one application when notifications are on, none when off.
 */
function checkNotifications(merged: BitsUploadSettings): void {
  const { notificationUrl: url, notificationFunctionArn: arn } = merged;
  const on = (merged.notificationType ?? 'none') !== 'none';
  if (on && (url === undefined) === (arn === undefined)) {
    throw new SettingsError(
      `notificationType=${merged.notificationType} needs exactly one of notificationUrl and notificationFunctionArn`,
    );
  }
  if (!on && (url !== undefined || arn !== undefined)) {
    throw new SettingsError(
      'notificationUrl and notificationFunctionArn go with notificationType by-reference or by-value',
    );
  }
  if (url !== undefined && (url.length > MAX_NOTIFICATION_URL_CHARS || !/^https?:\/\/[^/?#\s]/i.test(url))) {
    throw new SettingsError(
      `notificationUrl must be an http or https URL of at most ${MAX_NOTIFICATION_URL_CHARS} characters`,
    );
  }
  if (arn !== undefined && !LAMBDA_FUNCTION_ARN.test(arn)) {
    throw new SettingsError(`notificationFunctionArn must be a Lambda function ARN, got ${arn}`);
  }
}

/** KMS key ARNs: the key (not an alias) the parameter is encrypted with. */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/**
 * The auth settings, in terms of context keys (loadConfig checks them again, in terms of variables).
 * Basic credentials are only as safe as the transport (bits-protocol.md §1: Basic only over
 * HTTPS): the HTTP API is HTTPS-only, an ALB serves plain HTTP unless it has a certificate.
 */
function checkAuth(front: Front, merged: BitsUploadSettings): void {
  const basic = merged.authMode === 'basic';
  if (basic !== (merged.authParameterName !== undefined)) {
    throw new SettingsError('authParameterName is required with authMode=basic, and only goes with it');
  }
  if (basic && front === 'alb' && merged.certificateArn === undefined) {
    throw new SettingsError(
      'authMode=basic with the alb front needs HTTPS: give domainName and certificateArn, or Basic credentials cross the network in clear text',
    );
  }
  if (merged.authMode === 'upstream' && front === 'alb' && merged.certificateArn === undefined) {
    throw new SettingsError(
      'authMode=upstream with the alb front relies on mutual TLS, which needs HTTPS: give domainName and certificateArn',
    );
  }
  const keyArn = merged.authParameterKeyArn;
  if (keyArn !== undefined && (!basic || !KMS_KEY_ARN.test(keyArn))) {
    throw new SettingsError('authParameterKeyArn must be a KMS key ARN, and only goes with authMode=basic');
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
