import fc from 'fast-check';
import { UsageError } from '../../../client/errors';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  resolveRetryPolicy,
} from '../../../client/retry';

const policy = { retries: 10, baseDelayMs: 100, maxDelayMs: 5000, maxElapsedMs: 60_000 };

describe('backoffDelay', () => {
  test('doubles per attempt, half of it jitter, capped at the maximum (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, random) => {
          const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
          const delay = backoffDelay(attempt, policy, () => random);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(exponential / 2));
          expect(delay).toBeLessThanOrEqual(exponential);
        },
      ),
    );
  });

  test('gives the extremes for the extremes of the random source', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(50);
    expect(backoffDelay(3, policy, () => 0.999999)).toBe(400);
    expect(backoffDelay(30, policy, () => 0)).toBe(2500);
  });

  test('waits at least what Retry-After asks, but never past the maximum', () => {
    expect(backoffDelay(1, policy, () => 0, 2000)).toBe(2000);
    expect(backoffDelay(1, policy, () => 0, 60_000)).toBe(5000);
  });
});

test('Retry-After in seconds; the date form is ignored', () => {
  expect(parseRetryAfter('3')).toBe(3000);
  expect(parseRetryAfter(' 0 ')).toBe(0);
  expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT')).toBeUndefined();
  expect(parseRetryAfter(undefined)).toBeUndefined();
});

test('fills the policy from defaults and refuses negative or fractional bounds', () => {
  expect(resolveRetryPolicy({ retries: 0 })).toEqual({ ...DEFAULT_RETRY_POLICY, retries: 0 });
  expect(() => resolveRetryPolicy({ retries: -1 })).toThrow(UsageError);
  expect(() => resolveRetryPolicy({ baseDelayMs: 1.5 })).toThrow(UsageError);
});
