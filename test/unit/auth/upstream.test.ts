import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { MTLS_SUBJECT_HEADER, upstreamIdentity } from '../../../lambda/auth/upstream';
import type { HttpRequest } from '../../../lambda/protocol/http';
import { BITS_PROTOCOL, makeBitsEvent, send } from '../../helpers/events';
import { makeAuthBed } from './auth-bed';

const UPSTREAM = { authMode: 'upstream' } as const;
const createHeaders = { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL };
const SUBJECT = 'CN=uploader-7,OU=Devices,O=Contoso';

/** An HTTP API (payload 2.0) Create-Session whose request context carries `authorizer`. */
function httpApiEvent(authorizer: unknown, headers: Record<string, string> = {}) {
  const event = makeBitsEvent({ headers: { ...createHeaders, ...headers } });
  return { ...event, requestContext: { ...event.requestContext, authorizer } };
}

/** A REST API (payload 1.0) Create-Session. */
function restEvent(requestContext: Record<string, unknown>) {
  return {
    resource: '/{proxy+}',
    path: '/up/a.bin',
    httpMethod: 'BITS_POST',
    headers: { ...createHeaders, 'Content-Length': '0' },
    multiValueHeaders: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'r', identity: {}, ...requestContext },
  };
}

/** An ALB Create-Session, with the certificate subject header when given. */
function albEvent(subject?: string) {
  return {
    requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/1' } },
    httpMethod: 'BITS_POST',
    path: '/up/a.bin',
    headers: {
      'bits-packet-type': 'Create-Session',
      'bits-supported-protocols': BITS_PROTOCOL,
      'content-length': '0',
      ...(subject === undefined ? {} : { [MTLS_SUBJECT_HEADER]: subject }),
    },
    body: '',
    isBase64Encoded: false,
  };
}

const request = (headers: Record<string, string> = {}): HttpRequest => ({
  method: 'BITS_POST',
  path: '/up/a.bin',
  headers,
  body: Buffer.alloc(0),
});

describe('upstreamIdentity', () => {
  it.each([
    ['a Lambda authorizer context principalId', { lambda: { principalId: 'user-42' } }, 'user-42'],
    ['a Lambda authorizer policy principalId', { principalId: 'user-43' }, 'user-43'],
    [
      'a JWT authorizer sub claim',
      { principalId: '', jwt: { claims: { sub: 'a1b2-c3' }, scopes: null } },
      'a1b2-c3',
    ],
    [
      'an IAM authorizer userArn',
      { iam: { userArn: 'arn:aws:iam::123456789012:user/uploader' } },
      'arn:aws:iam::123456789012:user/uploader',
    ],
  ])('reads %s from an HTTP API event', (_name, authorizer, expected) => {
    expect(upstreamIdentity(httpApiEvent(authorizer), request())).toBe(expected);
  });

  it('prefers the Lambda authorizer context over the JWT claims', () => {
    const authorizer = { lambda: { principalId: 'from-lambda' }, jwt: { claims: { sub: 'from-jwt' } } };
    expect(upstreamIdentity(httpApiEvent(authorizer), request())).toBe('from-lambda');
  });

  it.each([
    ['a Lambda authorizer principalId', { authorizer: { principalId: 'user-44' } }, 'user-44'],
    ['a Cognito authorizer sub claim', { authorizer: { claims: { sub: 'c0ffee' } } }, 'c0ffee'],
    [
      'an IAM caller',
      { identity: { userArn: 'arn:aws:iam::123456789012:role/r' } },
      'arn:aws:iam::123456789012:role/r',
    ],
  ])('reads %s from a REST API event', (_name, context, expected) => {
    expect(upstreamIdentity(restEvent(context), request())).toBe(expected);
  });

  it('reads the mutual-TLS certificate subject from an ALB event', () => {
    expect(upstreamIdentity(albEvent(SUBJECT), request({ [MTLS_SUBJECT_HEADER]: SUBJECT }))).toBe(SUBJECT);
  });

  it('ignores the mutual-TLS header on API Gateway, where any client can send it', () => {
    expect(
      upstreamIdentity(httpApiEvent(undefined), request({ [MTLS_SUBJECT_HEADER]: SUBJECT })),
    ).toBeUndefined();
  });

  it('finds nothing without an authorizer, or with empty or non-string values', () => {
    expect(upstreamIdentity(httpApiEvent(undefined), request())).toBeUndefined();
    expect(upstreamIdentity(httpApiEvent({ principalId: '' }), request())).toBeUndefined();
    expect(upstreamIdentity(httpApiEvent({ jwt: { claims: { sub: 42 } } }), request())).toBeUndefined();
    expect(upstreamIdentity(albEvent(), request())).toBeUndefined();
    expect(upstreamIdentity({}, request())).toBeUndefined();
  });
});

describe('BITS_AUTH_MODE=upstream', () => {
  const call = async (handler: ReturnType<typeof makeAuthBed>['handler'], event: unknown) => {
    const result = (await handler(event)) as APIGatewayProxyStructuredResultV2;
    const headers = Object.fromEntries(
      Object.entries(result.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)]),
    );
    return { status: result.statusCode, headers };
  };

  it('makes the JWT subject the owner of the session it creates', async () => {
    const { bed, handler } = makeAuthBed(UPSTREAM);
    const answer = await call(handler, httpApiEvent({ jwt: { claims: { sub: 'a1b2-c3' }, scopes: null } }));
    expect(answer.status).toBe(200);
    const session = await bed.sessions.getSession(answer.headers['bits-session-id'] ?? '');
    expect(session?.owner).toBe('a1b2-c3');
  });

  it('makes the certificate subject the owner behind an ALB with mutual TLS', async () => {
    const { bed, handler } = makeAuthBed(UPSTREAM);
    const answer = await call(handler, albEvent(SUBJECT));
    expect(answer.status).toBe(200);
    expect((await bed.sessions.getSession(answer.headers['bits-session-id'] ?? ''))?.owner).toBe(SUBJECT);
  });

  it('answers 401 without a challenge when no identity arrived (a route without authorizer)', async () => {
    const { bed, handler } = makeAuthBed(UPSTREAM);
    const answer = await call(handler, httpApiEvent(undefined, { [MTLS_SUBJECT_HEADER]: SUBJECT }));
    expect(answer).toEqual({
      status: 401,
      headers: { 'bits-packet-type': 'Ack', 'content-length': '0', pragma: 'no-cache' },
    });
    expect(bed.uploads.uploads.size).toBe(0);
  });

  it('answers 401 for an identity with control characters or over 512 characters', async () => {
    const { handler } = makeAuthBed(UPSTREAM);
    expect((await call(handler, httpApiEvent({ principalId: 'eve\nINFO forged log line' }))).status).toBe(
      401,
    );
    expect((await call(handler, httpApiEvent({ principalId: 'x'.repeat(513) }))).status).toBe(401);
    expect((await call(handler, httpApiEvent({ principalId: 'x'.repeat(512) }))).status).toBe(200);
  });
});

describe('BITS_AUTH_MODE=none', () => {
  it('treats everyone as anonymous, even with an authorizer identity in the event', async () => {
    const { bed, handler } = makeAuthBed({});
    const answer = await send(handler, { principal: 'someone', headers: createHeaders });
    expect(answer.status).toBe(200);
    expect((await bed.sessions.getSession(answer.headers['bits-session-id'] ?? ''))?.owner).toBe('anonymous');
  });
});
