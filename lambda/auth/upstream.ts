import { BitsError } from '../protocol/errors';
import type { HttpRequest } from '../protocol/http';
import type { Authenticate } from './authenticate';

/** Set by an ALB whose HTTPS listener verifies client certificates (mutual TLS, verify mode). */
export const MTLS_SUBJECT_HEADER = 'x-amzn-mtls-clientcert-subject';
/** Principals go into logs, session records and (with BITS_PRINCIPAL_PREFIX) object keys. */
const MAX_PRINCIPAL_LENGTH = 512;

type Json = Record<string, unknown>;

const record = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * What the front established, in order of precedence. HTTP API (payload 2.0): a Lambda
 * authorizer's context `principalId` (or the policy response's `principalId`), a JWT authorizer's
 * `sub` claim, an IAM authorizer's `userArn`. REST API (1.0): the authorizer's `principalId`, a
 * Cognito authorizer's `sub` claim, IAM's `identity.userArn`. ALB: the certificate subject that
 * mutual TLS verified. Only `requestContext`, which the front writes, is read on API Gateway; the
 * mTLS header only on ALB events, because any client can send that header to API Gateway.
 */
export function upstreamIdentity(event: unknown, request: HttpRequest): string | undefined {
  const context = record(record(event)?.requestContext);
  if (context === undefined) return undefined;
  if (record(context.elb) !== undefined) return text(request.headers[MTLS_SUBJECT_HEADER]);
  const authorizer = record(context.authorizer);
  if (record(event)?.version === '2.0') {
    return (
      text(record(authorizer?.lambda)?.principalId) ??
      text(authorizer?.principalId) ??
      text(record(record(authorizer?.jwt)?.claims)?.sub) ??
      text(record(authorizer?.iam)?.userArn)
    );
  }
  return (
    text(authorizer?.principalId) ??
    text(record(authorizer?.claims)?.sub) ??
    text(record(context.identity)?.userArn)
  );
}

/** A principal we can log and store: not too long, no control characters or broken UTF-16. */
export const isUsablePrincipal = (principal: string): boolean =>
  principal.length <= MAX_PRINCIPAL_LENGTH && !/[\p{Cc}\p{Cs}]/u.test(principal);

/**
 * Trusts the identity the front verified (`BITS_AUTH_MODE=upstream`). A request without one
 * reached the function past the front's check, which means a route or listener without an
 * authorizer: 401, and the log says so. No challenge is sent: the front owns the scheme.
 */
export function upstreamAuthenticator(): Authenticate {
  return async (request, event) => {
    const principal = upstreamIdentity(event, request);
    if (principal === undefined) {
      throw new BitsError('UNAUTHORIZED', 'upstream auth: no identity from an authorizer or mutual TLS');
    }
    if (!isUsablePrincipal(principal)) {
      throw new BitsError('UNAUTHORIZED', 'upstream auth: identity too long or with control characters');
    }
    return principal;
  };
}
