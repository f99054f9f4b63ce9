import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { StoreUnavailableError } from '../ports/errors';

/** The fields AWS SDK v3 service exceptions carry; read defensively because anything can be thrown. */
interface SdkErrorShape {
  readonly name?: unknown;
  readonly Code?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

const shape = (error: unknown): SdkErrorShape =>
  typeof error === 'object' && error !== null ? (error as SdkErrorShape) : {};

/** The service's error code (`ConditionalCheckFailedException`, `NoSuchUpload` …), if any. */
export function errorCode(error: unknown): string | undefined {
  const { name, Code } = shape(error);
  if (typeof Code === 'string') return Code;
  return typeof name === 'string' ? name : undefined;
}

/** HTTP status of the failed response, if the error came from one. */
export function httpStatus(error: unknown): number | undefined {
  const status = shape(error).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

export const hasCode = (error: unknown, codes: ReadonlySet<string>): boolean => {
  const code = errorCode(error);
  return code !== undefined && codes.has(code);
};

/** Codes both services use when they shed load; the SDK has already retried them with backoff. */
const THROTTLING_CODES: ReadonlySet<string> = new Set([
  // DynamoDB
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  // S3
  'SlowDown',
  'Throttling',
  'RequestThrottled',
  'ServiceUnavailable',
]);

type SdkError = Parameters<typeof isTransientError>[0];

/**
 * Throttling, a server-side fault, or a network failure the SDK gave up on (timeouts, ECONNRESET,
 * DNS): the request may succeed later, so the client should retry. The SDK's own retry classifier
 * decides (the same one its retry strategy used), so an error it retried as transient is never
 * answered as our bug; our list adds the S3 throttling codes it does not name.
 */
export function isTransient(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (hasCode(error, THROTTLING_CODES)) return true;
  const sdkError = error as SdkError;
  if (isThrottlingError(sdkError) || isTransientError(sdkError) || isServerError(sdkError)) return true;
  const status = httpStatus(error);
  return (status !== undefined && status >= 500) || shape(error).$fault === 'server';
}

/**
 * The shared last step of every adapter's error translation: transient back-end failures become
 * StoreUnavailableError (a retryable 5xx for the client); anything else is rethrown unchanged so
 * that bugs surface as themselves.
 */
export function translateUnknown(error: unknown, operation: string): never {
  if (isTransient(error)) {
    throw new StoreUnavailableError(`${operation}: ${errorCode(error) ?? 'server error'}`, { cause: error });
  }
  throw error;
}
