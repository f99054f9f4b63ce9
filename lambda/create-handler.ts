import type { Context } from 'aws-lambda';
import { PACKET_HANDLERS } from './handlers';
import { handleReplyDownload } from './handlers/reply-download';
import type { HandlerDeps } from './handlers/types';
import { type BitsMetrics, packetTypeDimension, type RequestOutcome } from './observability/metrics';
import { BitsError } from './protocol/errors';
import { type FrontResult, formatResult, parseEvent, usesMultiValueHeaders } from './protocol/event';
import { HEADERS, RESPONSE_HEADERS } from './protocol/headers';
import type { HttpRequest, HttpResponse } from './protocol/http';
import { parseReplyPath } from './protocol/reply';
import { ANONYMOUS, toBitsRequest } from './protocol/request';
import { classifyError, renderAck, renderError } from './protocol/response';
import { readSessionId } from './protocol/session-id';

export type BitsLambdaHandler = (event: unknown, context?: Context) => Promise<FrontResult>;

/**
 * Metrics are published for Lambda invocations only (a context is given): EMF lines mean something
 * in a Lambda log stream, while the local server and the tests call without one and stay quiet.
 */
function requestMetrics(deps: HandlerDeps, context: Context | undefined): BitsMetrics | undefined {
  return context === undefined ? undefined : deps.metrics?.forRequest();
}

/** Publishing must never change the answer: a failure is logged and the request goes on. */
function publish(
  deps: HandlerDeps,
  metrics: BitsMetrics | undefined,
  outcome: RequestOutcome,
  context: Context | undefined,
): void {
  try {
    metrics?.publish(outcome, context);
  } catch (error) {
    deps.logger.warn('metrics not published', { error });
  }
}

const isDownload = (method: string): method is 'GET' | 'HEAD' => method === 'GET' || method === 'HEAD';

/**
 * How long this request may still run: Lambda's own count when invoked by Lambda, else the
 * configured budget from now (the local server), else whatever the deps say (tests).
 */
function remainingTime(deps: HandlerDeps, context: Context | undefined): (() => number) | undefined {
  if (context !== undefined) return () => context.getRemainingTimeInMillis();
  const budget = deps.requestBudgetMs;
  if (budget === undefined) return deps.remainingMs;
  const end = performance.now() + budget;
  return () => end - performance.now();
}

/**
 * A reply download (upload-reply): plain HTTP, not a BITS packet, so failures carry no BITS
 * headers; authentication is the same as for uploads. Logged like packets, without metrics (those
 * are per packet type).
 */
async function downloadReply(
  deps: HandlerDeps,
  event: unknown,
  request: HttpRequest,
  sessionId: string,
  started: number,
): Promise<HttpResponse> {
  const method = request.method as 'GET' | 'HEAD';
  const fields = { method, sessionId, range: request.headers[HEADERS.range]?.slice(0, 64) };
  try {
    const principal = (await deps.authenticate?.(request, event)) ?? request.principal ?? ANONYMOUS;
    const download = { method, path: request.path, headers: request.headers, principal, sessionId };
    const response = await handleReplyDownload(download, deps);
    const latencyMs = deps.now() - started;
    deps.logger.info('reply download', { ...fields, principal, status: response.statusCode, latencyMs });
    return response;
  } catch (thrown) {
    const { error, expected } = classifyError(thrown);
    const logged = {
      ...fields,
      status: error.spec.status,
      error: error.errorName,
      latencyMs: deps.now() - started,
    };
    if (expected) deps.logger.warn(error.message, logged);
    else deps.logger.error('unexpected error', { ...logged, cause: error.cause });
    const headers: Record<string, string> = { [RESPONSE_HEADERS.contentLength]: '0' };
    if (error.challenge !== undefined) headers[RESPONSE_HEADERS.wwwAuthenticate] = error.challenge;
    return { statusCode: error.spec.status, headers };
  }
}

/**
 * The Lambda handler: front event → BitsRequest → packet handler → Ack, for API Gateway HTTP API,
 * REST API and ALB events alike. Builds nothing; everything it uses comes in `deps`.
 */
export function createHandler(deps: HandlerDeps): BitsLambdaHandler {
  return async (event, context) => {
    const started = deps.now();
    if (context !== undefined) deps.logger.addContext(context);
    const metrics = requestMetrics(deps, context);
    const remainingMs = remainingTime(deps, context);
    // Handlers record into this request's metrics only, never into the shared instance.
    const handlerDeps: HandlerDeps = {
      ...deps,
      ...(deps.metrics === undefined ? {} : { metrics }),
      ...(remainingMs === undefined ? {} : { remainingMs }),
    };
    const parsed = parseEvent(event);
    if (parsed === undefined) {
      const latencyMs = deps.now() - started;
      deps.logger.error('event is not from API Gateway or ALB', {
        status: 500,
        error: 'INTERNAL',
        latencyMs,
      });
      const outcome: RequestOutcome = {
        packetType: 'unknown',
        status: 500,
        errorName: 'INTERNAL',
        bodyBytes: 0,
        latencyMs,
      };
      publish(deps, metrics, outcome, context);
      return formatResult(
        renderError(new BitsError('INTERNAL', 'unknown event'), undefined),
        'http-api-v2',
        false,
      );
    }
    const { request, shape } = parsed;
    const multiValue = usesMultiValueHeaders(event);
    const sessionId = readSessionId(request.headers[HEADERS.sessionId]);
    const fields = {
      packetType: request.headers[HEADERS.packetType]?.slice(0, 32),
      sessionId,
      principal: request.principal,
      range: request.headers[HEADERS.contentRange]?.slice(0, 64),
      bodyBytes: request.body.length,
    };
    const measured = { packetType: packetTypeDimension(fields.packetType), bodyBytes: fields.bodyBytes };
    const replySessionId = isDownload(request.method) ? parseReplyPath(request.path) : undefined;
    if (replySessionId !== undefined) {
      const response = await downloadReply(deps, event, request, replySessionId, started);
      return formatResult(response, shape, multiValue);
    }
    try {
      // Who is asking comes first (lambda/auth): an unauthenticated client learns nothing else.
      const principal = await deps.authenticate?.(request, event);
      if (principal !== undefined) fields.principal = principal;
      const bitsRequest = toBitsRequest(principal === undefined ? request : { ...request, principal });
      const ack = await PACKET_HANDLERS[bitsRequest.packetType](bitsRequest, handlerDeps);
      const latencyMs = deps.now() - started;
      deps.logger.info('ack', { ...fields, status: ack.status, latencyMs });
      publish(deps, metrics, { ...measured, status: ack.status, latencyMs }, context);
      return formatResult(renderAck(ack), shape, multiValue);
    } catch (thrown) {
      const { error, expected } = classifyError(thrown);
      const latencyMs = deps.now() - started;
      const logged = {
        ...fields,
        status: error.spec.status,
        error: error.errorName,
        latencyMs,
      };
      if (expected) deps.logger.warn(error.message, logged);
      else deps.logger.error('unexpected error', { ...logged, cause: error.cause });
      const outcome = { ...measured, status: error.spec.status, errorName: error.errorName, latencyMs };
      publish(deps, metrics, outcome, context);
      return formatResult(renderError(error, sessionId), shape, multiValue);
    }
  };
}
