import { randomUUID } from 'node:crypto';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { RAW_BODY } from '../../lambda/protocol/event';
import type { FrontRequest, FrontResponse } from './types';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** `requestContext.time` as API Gateway writes it: `23/Nov/2026:09:05:01 +0000`. */
function formatRequestTime(date: Date): string {
  const day = `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}`;
  return `${day}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** Decoded query parameters, repeated names joined with "," as HTTP APIs do; undefined when none. */
function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const parameters: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    const existing = parameters[name];
    parameters[name] = existing === undefined ? value : `${existing},${value}`;
  }
  return parameters;
}

/**
 * A local request as an API Gateway HTTP API payload 2.0 event (the design's default front,
 * platform.md §1), so the local server runs the very Lambda handler. The body travels
 * base64-encoded, as binary bodies do through API Gateway; with `rawBody` (the local server) the
 * bytes are handed over as they are, under the RAW_BODY symbol the event parser reads first,
 * sparing every fragment a base64 round trip. The Cookie header stays in `headers` and the event
 * has no `cookies` array: nothing here uses cookies.
 */
export function toHttpApiEvent(
  request: FrontRequest,
  now: Date = new Date(),
  rawBody = false,
): APIGatewayProxyEventV2 & { readonly [RAW_BODY]?: Buffer } {
  const queryAt = request.target.indexOf('?');
  const rawQueryString = queryAt < 0 ? '' : request.target.slice(queryAt + 1);
  const domainName = request.headers.host ?? 'localhost';
  const queryStringParameters = queryParameters(rawQueryString);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString,
    headers: { ...request.headers },
    ...(queryStringParameters === undefined ? {} : { queryStringParameters }),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.', 1)[0] ?? domainName,
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.remoteAddress,
        userAgent: request.headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: formatRequestTime(now),
      timeEpoch: now.getTime(),
    },
    ...(rawBody ? { [RAW_BODY]: request.body, isBase64Encoded: false } : bodyInBase64(request.body)),
  };
}

function bodyInBase64(body: Buffer): Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'> {
  return body.length > 0
    ? { body: body.toString('base64'), isBase64Encoded: true }
    : { isBase64Encoded: false };
}

const isStructured = (result: unknown): result is APIGatewayProxyStructuredResultV2 =>
  typeof result === 'object' && result !== null && 'statusCode' in result;

/**
 * The Lambda's answer back as a response to send. A result without `statusCode` is read the way
 * HTTP APIs document it for payload 2.0: status 200, JSON content type, the result as the body.
 * `cookies` are dropped (FrontResponse has one value per header name; nothing here sets cookies).
 */
export function fromLambdaResult(result: APIGatewayProxyResultV2): FrontResponse {
  if (!isStructured(result)) {
    const body = typeof result === 'string' ? result : JSON.stringify(result);
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(body ?? '', 'utf8'),
    };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  const body =
    result.body === undefined || result.body === ''
      ? undefined
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  return {
    statusCode: result.statusCode ?? 200,
    headers,
    ...(body === undefined ? {} : { body }),
  };
}
