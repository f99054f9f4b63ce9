import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { BitsLambdaHandler } from '../../lambda/create-handler';

export interface BitsEventInput {
  readonly method?: string;
  readonly path?: string;
  /** Header names as a client would write them; Content-Length is added from the body unless given. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: Uint8Array;
  readonly principal?: string;
}

/** An API Gateway HTTP API (payload 2.0) event, as the HTTP API front delivers BITS requests. */
export function makeBitsEvent(input: BitsEventInput = {}): APIGatewayProxyEventV2 {
  const body = Buffer.from(input.body ?? new Uint8Array(0));
  const headers: Record<string, string> = { 'content-length': String(body.length) };
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    if (value === undefined) delete headers[name.toLowerCase()];
    else headers[name.toLowerCase()] = value;
  }
  const method = input.method ?? 'BITS_POST';
  const path = input.path ?? '/up/a.bin';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'Microsoft BITS/7.8' },
      requestId: 'test',
      routeKey: '$default',
      stage: '$default',
      time: '23/Nov/2026:00:00:00 +0000',
      timeEpoch: 0,
      ...(input.principal === undefined ? {} : { authorizer: { principalId: input.principal } }),
    } as APIGatewayProxyEventV2['requestContext'],
    body: body.length > 0 ? body.toString('base64') : undefined,
    isBase64Encoded: body.length > 0,
  } as APIGatewayProxyEventV2;
}

/** A handler answer with lower-case header lookup. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export async function send(handler: BitsLambdaHandler, input: BitsEventInput): Promise<Answer> {
  const result = (await handler(makeBitsEvent(input))) as APIGatewayProxyStructuredResultV2;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  return { status: result.statusCode ?? 0, headers, body: result.body ?? '' };
}

export const BITS_PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';
