import type {
  ALBEvent,
  ALBResult,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import type { HttpRequest, HttpResponse } from './http';
import { statusText } from './status-text';

/** Which front sent the event; the response goes back in the same shape. */
export type EventShape = 'http-api-v2' | 'rest-v1' | 'alb';

export type FrontResult = APIGatewayProxyStructuredResultV2 | APIGatewayProxyResult | ALBResult;

type HeaderInput = Readonly<Record<string, string | undefined>> | null | undefined;
type MultiHeaderInput = Readonly<Record<string, readonly string[] | undefined>> | null | undefined;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/** Lower-cases names and joins repeated values with ", " (RFC 9110 §5.3). */
function normaliseHeaders(single: HeaderInput, multi: MultiHeaderInput): Record<string, string> {
  // No prototype: a header named `constructor` or `__proto__` is just a header.
  const headers: Record<string, string> = Object.create(null);
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  };
  if (multi) {
    for (const [name, values] of Object.entries(multi)) for (const value of values ?? []) add(name, value);
  } else if (single) {
    for (const [name, value] of Object.entries(single)) if (value !== undefined) add(name, value);
  }
  return headers;
}

/**
 * Where the local server (local/http/to-event.ts) puts a request's body bytes as received, instead
 * of a base64 `body`: a fragment then costs no base64 encode and decode, nor a string of 4/3 its
 * size in the heap. A symbol-keyed property cannot come from a front: Lambda events arrive as JSON,
 * which has no symbols.
 */
export const RAW_BODY: unique symbol = Symbol('raw body');

const rawBodyOf = (event: object): unknown => (event as { readonly [RAW_BODY]?: unknown })[RAW_BODY];

function decodeBody(
  event: { readonly body?: string | null; readonly isBase64Encoded?: boolean },
  raw: unknown,
): Buffer {
  if (Buffer.isBuffer(raw)) return raw;
  const { body, isBase64Encoded } = event;
  if (body === null || body === undefined) return Buffer.alloc(0);
  return Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8');
}

function principalOfV2(event: APIGatewayProxyEventV2): string | undefined {
  const authorizer = (event.requestContext as { authorizer?: { principalId?: unknown } }).authorizer;
  return typeof authorizer?.principalId === 'string' ? authorizer.principalId : undefined;
}

const stripQuery = (path: string): string => path.split('?', 1)[0] ?? '';

/**
 * Reads API Gateway HTTP API (payload 2.0), REST API (1.0) and ALB events (platform.md §1).
 * Returns undefined for anything else: that is a wiring fault, not client input.
 */
export function parseEvent(event: unknown): { request: HttpRequest; shape: EventShape } | undefined {
  if (!isRecord(event) || !isRecord(event.requestContext)) return undefined;
  if (event.version === '2.0' && isRecord(event.requestContext.http)) {
    const v2 = event as unknown as APIGatewayProxyEventV2;
    const principal = principalOfV2(v2);
    return {
      shape: 'http-api-v2',
      request: {
        method: v2.requestContext.http.method,
        path: stripQuery(v2.rawPath ?? v2.requestContext.http.path),
        headers: normaliseHeaders(v2.headers, undefined),
        body: decodeBody(v2, rawBodyOf(event)),
        ...(principal === undefined ? {} : { principal }),
      },
    };
  }
  if (typeof event.httpMethod !== 'string' || typeof event.path !== 'string') return undefined;
  const v1 = event as unknown as APIGatewayProxyEvent | ALBEvent;
  return {
    shape: isRecord(event.requestContext.elb) ? 'alb' : 'rest-v1',
    request: {
      method: v1.httpMethod,
      path: stripQuery(v1.path),
      headers: normaliseHeaders(v1.headers, v1.multiValueHeaders),
      body: decodeBody(v1, rawBodyOf(event)),
    },
  };
}

/** Shapes the response for the front that sent the event (ALB needs a status description). */
export function formatResult(response: HttpResponse, shape: EventShape, multiValue: boolean): FrontResult {
  // Bodies are binary (replies): base64, which every front decodes before sending.
  const body = response.body ?? Buffer.alloc(0);
  const base = {
    statusCode: response.statusCode,
    body: body.toString('base64'),
    isBase64Encoded: body.length > 0,
  };
  const headers = multiValue
    ? { multiValueHeaders: Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k, [v]])) }
    : { headers: { ...response.headers } };
  if (shape === 'alb') {
    return {
      ...base,
      ...headers,
      statusDescription: `${response.statusCode} ${statusText(response.statusCode)}`,
    };
  }
  return { ...base, ...headers };
}

/** True when the event used multiValueHeaders, so the answer must too (ALB multi-value mode). */
export const usesMultiValueHeaders = (event: unknown): boolean =>
  isRecord(event) && event.version !== '2.0' && isRecord(event.multiValueHeaders);
