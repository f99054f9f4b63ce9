import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  inProcessInvoker,
  LambdaNotificationTarget,
  type NotificationEvent,
  sdkInvoker,
} from '../../../lambda/adapters/lambda-notification-target';
import {
  ApplicationFailedError,
  ApplicationUnreachableError,
  ReplyTooLargeError,
  type UploadNotice,
} from '../../../lambda/ports/notification-target';

const lambda = mockClient(LambdaClient);
const client = new LambdaClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const target = new LambdaNotificationTarget(
  sdkInvoker(client, 'arn:aws:lambda:us-east-1:123456789012:function:app'),
  64,
);

const notice = (type: UploadNotice['type'], body = Buffer.from('file bytes')): UploadNotice => ({
  type,
  bucket: 'uploads',
  key: 'uploads/a.bin',
  sessionId: '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}',
  principal: 'DOMAIN\\alice',
  size: body.length,
  metadata: { 'bits-session-id': '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}' },
  originalRequestUrl: 'https://bits.example/a.bin',
  dataFileName: 's3://uploads/uploads/a.bin',
  dataFileUrl: 'https://s3.example/get',
  // By value the application gets no link to write a reply (the handler gives none).
  ...(type === 'by-reference'
    ? {
        responseFileName: 's3://uploads/bits-replies/x/1/incoming.bin',
        responseFileUrl: 'https://s3.example/put',
      }
    : {}),
  openBody: async () =>
    (async function* () {
      yield body;
    })(),
});

const payload = (value: unknown) => Buffer.from(JSON.stringify(value));
const signal = () => new AbortController().signal;

beforeEach(() => {
  lambda.reset();
});

describe('LambdaNotificationTarget over the SDK', () => {
  it('invokes synchronously with the JSON event; by value the upload travels base64 in `body`', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload({ body: 'hello' }) as never });
    const answer = await target.notify(notice('by-value'), signal());
    expect(answer).toEqual({ status: 200, body: Buffer.from('hello') });
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(input?.FunctionName).toBe('arn:aws:lambda:us-east-1:123456789012:function:app');
    expect(input?.InvocationType).toBe('RequestResponse');
    const event = JSON.parse(Buffer.from(input?.Payload as Uint8Array).toString()) as NotificationEvent;
    expect(event).toEqual({
      type: 'by-value',
      bucket: 'uploads',
      key: 'uploads/a.bin',
      sessionId: '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}',
      principal: 'DOMAIN\\alice',
      size: 10,
      metadata: { 'bits-session-id': '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}' },
      originalRequestUrl: 'https://bits.example/a.bin',
      dataFileName: 's3://uploads/uploads/a.bin',
      dataFileUrl: 'https://s3.example/get',
      body: Buffer.from('file bytes').toString('base64'),
    });
  });

  it('by reference the event has no body, and the link to write the reply', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload(null) as never });
    expect(await target.notify(notice('by-reference'), signal())).toEqual({
      status: 200,
      body: Buffer.alloc(0),
    });
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    const event = JSON.parse(Buffer.from(input?.Payload as Uint8Array).toString()) as NotificationEvent;
    expect(event).not.toHaveProperty('body');
    expect(event).toMatchObject({
      responseFileName: 's3://uploads/bits-replies/x/1/incoming.bin',
      responseFileUrl: 'https://s3.example/put',
    });
  });

  it('reads status, base64 body and static URL from the answer', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: payload({
        statusCode: 202,
        body: Buffer.from([0, 1, 2]).toString('base64'),
        isBase64Encoded: true,
        staticResponseUrl: 'https://x.example/r',
      }) as never,
    });
    expect(await target.notify(notice('by-reference'), signal())).toEqual({
      status: 202,
      body: Buffer.from([0, 1, 2]),
      staticResponseUrl: 'https://x.example/r',
    });
  });

  it('a FunctionError is the application failing', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({ errorMessage: 'boom' }) as never,
    });
    await expect(target.notify(notice('by-reference'), signal())).rejects.toBeInstanceOf(
      ApplicationFailedError,
    );
  });

  it('an answer above the 6 MB invoke payload (Function.ResponseSizeTooLarge) is a reply too large, not a failure to retry', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({
        errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
        errorType: 'Function.ResponseSizeTooLarge',
      }) as never,
    });
    await expect(target.notify(notice('by-reference'), signal())).rejects.toBeInstanceOf(ReplyTooLargeError);
  });

  it('an invoke the service refuses means the application is unreachable', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(new ResourceNotFoundException({ message: 'no such function', $metadata: {} }));
    await expect(target.notify(notice('by-reference'), signal())).rejects.toBeInstanceOf(
      ApplicationUnreachableError,
    );
  });

  it.each([
    ['not JSON', Buffer.from('{oops')],
    ['an array', payload([1])],
    ['a string status', payload({ statusCode: '200' })],
    ['a numeric body', payload({ body: 5 })],
    ['a non-boolean encoding flag', payload({ isBase64Encoded: 'yes' })],
    ['a numeric static URL', payload({ staticResponseUrl: 1 })],
  ])('an answer that is %s is no usable answer', async (_what, answer) => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: answer as never });
    await expect(target.notify(notice('by-reference'), signal())).rejects.toBeInstanceOf(
      ApplicationUnreachableError,
    );
  });

  it('a reply above the limit is refused', async () => {
    lambda
      .on(InvokeCommand)
      .resolves({ StatusCode: 200, Payload: payload({ body: 'x'.repeat(65) }) as never });
    await expect(target.notify(notice('by-reference'), signal())).rejects.toBeInstanceOf(ReplyTooLargeError);
  });

  it('hands the abort signal to the SDK and rejects with its reason when the caller times out', async () => {
    lambda.on(InvokeCommand).callsFake(
      (_input, getClient) =>
        new Promise((_, reject) => {
          void getClient;
          setTimeout(() => reject(new Error('aborted by SDK')), 20);
        }),
    );
    const controller = new AbortController();
    const reason = new Error('our timeout');
    const pending = target.notify(notice('by-reference'), controller.signal);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });
});

describe('inProcessInvoker', () => {
  it('runs a Lambda-style function through the same JSON round trip; a throw is an Unhandled FunctionError', async () => {
    const ok = inProcessInvoker(async (event) => ({ body: `hi ${event.principal}` }));
    const local = new LambdaNotificationTarget(ok);
    expect((await local.notify(notice('by-value'), signal())).body.toString()).toBe('hi DOMAIN\\alice');
    const failing = inProcessInvoker(async () => {
      throw new TypeError('bad');
    });
    const result = await failing(payload({}), signal());
    expect(result.functionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(result.payload).toString())).toEqual({
      errorType: 'TypeError',
      errorMessage: 'bad',
    });
  });
});
