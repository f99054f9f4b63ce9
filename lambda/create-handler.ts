import type { Context } from 'aws-lambda';
import { PACKET_HANDLERS } from './handlers';
import type { HandlerDeps } from './handlers/types';
import { BitsError } from './protocol/errors';
import { type FrontResult, formatResult, parseEvent, usesMultiValueHeaders } from './protocol/event';
import { HEADERS } from './protocol/headers';
import { toBitsRequest } from './protocol/request';
import { classifyError, renderAck, renderError } from './protocol/response';
import { readSessionId } from './protocol/session-id';

export type BitsLambdaHandler = (event: unknown, context?: Context) => Promise<FrontResult>;

/**
 * The Lambda handler: front event → BitsRequest → packet handler → Ack, for API Gateway HTTP API,
 * REST API and ALB events alike. Builds nothing; everything it uses comes in `deps`.
 */
export function createHandler(deps: HandlerDeps): BitsLambdaHandler {
  return async (event, context) => {
    const started = deps.now();
    if (context !== undefined) deps.logger.addContext(context);
    const parsed = parseEvent(event);
    if (parsed === undefined) {
      deps.logger.error('event is not from API Gateway or ALB');
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
    try {
      const bitsRequest = toBitsRequest(request);
      const ack = await PACKET_HANDLERS[bitsRequest.packetType](bitsRequest, deps);
      deps.logger.info('ack', { ...fields, status: ack.status, latencyMs: deps.now() - started });
      return formatResult(renderAck(ack), shape, multiValue);
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
      return formatResult(renderError(error, sessionId), shape, multiValue);
    }
  };
}
