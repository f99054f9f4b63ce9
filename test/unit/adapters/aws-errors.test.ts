import { isTransient, translateUnknown } from '../../../lambda/adapters/aws-errors';
import { StoreUnavailableError } from '../../../lambda/ports/errors';

/** Builds an error shaped like what the SDK throws once its retries are spent. */
function sdkError(fields: { name?: string; code?: string; status?: number; fault?: string }): Error {
  const error = new Error('failed') as Error & Record<string, unknown>;
  if (fields.name !== undefined) error.name = fields.name;
  if (fields.code !== undefined) error.code = fields.code;
  if (fields.status !== undefined) error.$metadata = { httpStatusCode: fields.status };
  if (fields.fault !== undefined) error.$fault = fields.fault;
  return error;
}

describe('isTransient', () => {
  it.each([
    ['a socket reset without an HTTP status', { code: 'ECONNRESET' }],
    ['a refused connection', { code: 'ECONNREFUSED' }],
    ['a broken pipe', { code: 'EPIPE' }],
    ['a failed DNS lookup', { code: 'ENOTFOUND' }],
    ['a temporary DNS failure', { code: 'EAI_AGAIN' }],
    ['the SDK request timeout', { name: 'TimeoutError' }],
    ['S3 RequestTimeout', { name: 'RequestTimeout', status: 400 }],
    ['HTTP 429', { name: 'TooManyRequestsException', status: 429 }],
    ['DynamoDB throttling', { name: 'ProvisionedThroughputExceededException', status: 400 }],
    ['S3 SlowDown', { name: 'SlowDown', status: 503 }],
    ['an InternalServerError', { name: 'InternalServerError', status: 500 }],
    ['a 5xx marked as a server fault', { name: 'Whatever', fault: 'server' }],
  ])('treats %s as transient', (_what, fields) => {
    expect(isTransient(sdkError(fields))).toBe(true);
  });

  it.each([
    ['a programming error', new TypeError('x is undefined')],
    ['a client fault', sdkError({ name: 'ValidationException', status: 400, fault: 'client' })],
    ['an access denial', sdkError({ name: 'AccessDenied', status: 403 })],
    ['an aborted request', sdkError({ name: 'AbortError' })],
    ['a thrown string', 'boom'],
    ['undefined', undefined],
  ])('does not treat %s as transient', (_what, error) => {
    expect(isTransient(error)).toBe(false);
  });
});

describe('translateUnknown', () => {
  it('turns a network failure the SDK gave up on into StoreUnavailableError (503 to the client)', () => {
    const cause = sdkError({ code: 'ECONNRESET' });
    let thrown: unknown;
    try {
      translateUnknown(cause, 'PutObject');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StoreUnavailableError);
    expect((thrown as Error).cause).toBe(cause);
  });

  it('rethrows what it does not recognise unchanged, so bugs surface as themselves', () => {
    const bug = new TypeError('x is undefined');
    expect(() => translateUnknown(bug, 'PutObject')).toThrow(bug);
  });
});
