import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  type ApplicationAnswer,
  ApplicationFailedError,
  ApplicationUnreachableError,
  type NotificationTarget,
  ReplyTooLargeError,
  type UploadFacts,
  type UploadNotice,
} from '../ports/notification-target';
import { MAX_REPLY_BYTES } from '../protocol/reply';

/** The event a notification function receives (README "Upload-reply and notifications"). */
export interface NotificationEvent extends UploadFacts {
  /** By value: the whole upload, base64. */
  readonly body?: string;
}

/** What a notification function returns; `null` or `{}` is a 200 with an empty reply. */
export interface NotificationFunctionAnswer {
  /** Default 200; anything outside 200–299 is an application error relayed to the client. */
  readonly statusCode?: number;
  /** The reply (unless `staticResponseUrl` is given). */
  readonly body?: string;
  /** `body` is base64 (binary replies); default false, UTF-8 text. */
  readonly isBase64Encoded?: boolean;
  /** The reply is at this absolute URL; nothing is stored. */
  readonly staticResponseUrl?: string;
}

/** A function in this process that behaves like a deployed one (tests, the local server). */
export type LambdaStyleFunction = (
  event: NotificationEvent,
) => Promise<NotificationFunctionAnswer | null | undefined>;

/** What a synchronous invoke returns (Lambda's Invoke API: status, FunctionError, payload). */
export interface InvokeResult {
  readonly statusCode: number;
  /** Set when the function threw or timed out (`Unhandled`) or returned an error (`Handled`). */
  readonly functionError?: string;
  readonly payload: Uint8Array;
}

/** One synchronous invocation with a JSON payload; rejects when the invocation itself fails. */
export type InvokeFunction = (payload: Uint8Array, signal: AbortSignal) => Promise<InvokeResult>;

/** Invokes a deployed function with the SDK (RequestResponse: the answer is awaited). */
export function sdkInvoker(client: LambdaClient, functionName: string): InvokeFunction {
  return async (payload, signal) => {
    const output = await client.send(
      new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: payload }),
      { abortSignal: signal },
    );
    return {
      statusCode: output.StatusCode ?? 200,
      ...(output.FunctionError === undefined ? {} : { functionError: output.FunctionError }),
      payload: output.Payload ?? new Uint8Array(),
    };
  };
}

/**
 * Runs a Lambda-style function in this process through the same JSON round trip as a real invoke,
 * a throw becoming an `Unhandled` FunctionError, so everything above the invoke runs unchanged.
 */
export function inProcessInvoker(fn: LambdaStyleFunction): InvokeFunction {
  return async (payload) => {
    const event = JSON.parse(Buffer.from(payload).toString('utf8')) as NotificationEvent;
    try {
      const answer = (await fn(event)) ?? null;
      return { statusCode: 200, payload: Buffer.from(JSON.stringify(answer), 'utf8') };
    } catch (error) {
      const errorType = error instanceof Error ? error.name : 'Error';
      const errorMessage = error instanceof Error ? error.message : String(error);
      return {
        statusCode: 200,
        functionError: 'Unhandled',
        payload: Buffer.from(JSON.stringify({ errorType, errorMessage }), 'utf8'),
      };
    }
  };
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const malformed = (why: string) => new ApplicationUnreachableError(`malformed function answer: ${why}`);

/**
 * Lambda's errorType when a function's answer exceeds the 6 MB synchronous response payload: the
 * reply cannot fit (REPLY_TOO_LARGE), and calling again would only fail the same way.
 */
const RESPONSE_TOO_LARGE_ERROR_TYPE = 'Function.ResponseSizeTooLarge';

/** The errorType of a FunctionError payload (`{"errorType": …, "errorMessage": …}`), if readable. */
function errorTypeOf(payload: Uint8Array): string | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payload).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { errorType } = parsed as Record<string, unknown>;
    return typeof errorType === 'string' ? errorType : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the function's JSON answer; anything not of the documented shape is no usable answer. */
function toAnswer(payload: Uint8Array, maxReplyBytes: number): ApplicationAnswer {
  let parsed: unknown;
  try {
    const text = Buffer.from(payload).toString('utf8');
    parsed = text.trim() === '' ? null : JSON.parse(text);
  } catch {
    throw malformed('not JSON');
  }
  if (parsed === null) return { status: 200, body: Buffer.alloc(0) };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw malformed('not an object');
  const answer = parsed as Record<string, unknown>;
  const { statusCode = 200, body = '', isBase64Encoded = false, staticResponseUrl } = answer;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode)) throw malformed('statusCode');
  if (typeof body !== 'string') throw malformed('body');
  if (typeof isBase64Encoded !== 'boolean') throw malformed('isBase64Encoded');
  if (staticResponseUrl !== undefined && typeof staticResponseUrl !== 'string') {
    throw malformed('staticResponseUrl');
  }
  const bytes = Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8');
  if (bytes.length > maxReplyBytes) {
    throw new ReplyTooLargeError(`the function answered ${bytes.length} bytes`);
  }
  return {
    status: statusCode,
    body: bytes,
    ...(staticResponseUrl === undefined ? {} : { staticResponseUrl }),
  };
}

/**
 * The application as a Lambda function, invoked synchronously with a JSON event (by value: the
 * upload base64 in `body`; sizes are capped at the first fragment) and answering JSON. The same
 * translation runs over a real invoke or an in-process function (`InvokeFunction`).
 */
export class LambdaNotificationTarget implements NotificationTarget {
  constructor(
    private readonly invoke: InvokeFunction,
    private readonly maxReplyBytes: number = MAX_REPLY_BYTES,
  ) {}

  async notify(notice: UploadNotice, signal: AbortSignal): Promise<ApplicationAnswer> {
    const { openBody: _body, ...fields } = notice;
    const event: NotificationEvent = {
      ...fields,
      ...(notice.type === 'by-value'
        ? { body: (await collect(await notice.openBody())).toString('base64') }
        : {}),
    };
    let result: InvokeResult;
    try {
      result = await this.invoke(Buffer.from(JSON.stringify(event), 'utf8'), signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const name = error instanceof Error ? error.name : 'error';
      throw new ApplicationUnreachableError(`invoke failed: ${name}`, { cause: error });
    }
    if (result.functionError !== undefined) {
      const errorType = errorTypeOf(result.payload);
      if (errorType === RESPONSE_TOO_LARGE_ERROR_TYPE) {
        throw new ReplyTooLargeError(`the function's answer exceeds the invoke payload (${errorType})`);
      }
      throw new ApplicationFailedError(`function error: ${result.functionError} ${errorType ?? ''}`.trim());
    }
    return toAnswer(result.payload, this.maxReplyBytes);
  }
}
