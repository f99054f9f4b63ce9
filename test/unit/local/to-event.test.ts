import { parseEvent } from '../../../lambda/protocol/event';
import { fromLambdaResult, toHttpApiEvent } from '../../../local/http/to-event';
import type { FrontRequest } from '../../../local/http/types';

const NOW = new Date('2026-11-23T09:05:01.250Z');

const request = (overrides: Partial<FrontRequest> = {}): FrontRequest => ({
  method: 'BITS_POST',
  target: '/up/a%20b.bin?x=1&x=2&y=%C3%A9',
  path: '/up/a%20b.bin',
  headers: {
    host: 'uploads.example.test:8080',
    'user-agent': 'Microsoft BITS/7.8',
    'bits-packet-type': 'Fragment',
    'x-multi': 'a, b',
  },
  rawHeaders: [],
  body: Buffer.from([0, 1, 2, 255]),
  remoteAddress: '127.0.0.1',
  ...overrides,
});

describe('toHttpApiEvent', () => {
  it('builds an HTTP API payload 2.0 event', () => {
    const event = toHttpApiEvent(request(), NOW);
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/up/a%20b.bin',
      rawQueryString: 'x=1&x=2&y=%C3%A9',
      queryStringParameters: { x: '1,2', y: 'é' },
      headers: { 'bits-packet-type': 'Fragment', 'x-multi': 'a, b' },
      requestContext: {
        domainName: 'uploads.example.test:8080',
        domainPrefix: 'uploads',
        http: {
          method: 'BITS_POST',
          path: '/up/a%20b.bin',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'Microsoft BITS/7.8',
        },
        routeKey: '$default',
        stage: '$default',
        time: '23/Nov/2026:09:05:01 +0000',
        timeEpoch: NOW.getTime(),
      },
      body: 'AAEC/w==',
      isBase64Encoded: true,
    });
  });

  it('gives every event its own request id', () => {
    const ids = new Set(Array.from({ length: 5 }, () => toHttpApiEvent(request()).requestContext.requestId));
    expect(ids.size).toBe(5);
  });

  it('leaves out the body and query parameters when there are none', () => {
    const event = toHttpApiEvent(
      request({ target: '/p', path: '/p', body: Buffer.alloc(0), headers: {} }),
      NOW,
    );
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
    expect(event.rawQueryString).toBe('');
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.requestContext.http.userAgent).toBe('');
    expect(event.requestContext.domainName).toBe('localhost');
  });

  it('is read back by the Lambda event parser as the same request', () => {
    const parsed = parseEvent(toHttpApiEvent(request(), NOW));
    expect(parsed?.shape).toBe('http-api-v2');
    expect(parsed?.request.method).toBe('BITS_POST');
    expect(parsed?.request.path).toBe('/up/a%20b.bin');
    expect(parsed?.request.headers['bits-packet-type']).toBe('Fragment');
    expect(parsed?.request.body).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('hands the body over as it came with rawBody (the local server), under a key JSON cannot carry', () => {
    const body = Buffer.from([0, 1, 2, 255]);
    const event = toHttpApiEvent(request({ body }), NOW, true);
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
    expect(parseEvent(event)?.request.body).toBe(body); // the same bytes, not a copy
    expect(parseEvent(event)?.request).toEqual(parseEvent(toHttpApiEvent(request({ body }), NOW))?.request);
    // What arrives at a Lambda function is JSON: the raw body cannot come from a front.
    expect(parseEvent(JSON.parse(JSON.stringify(event)))?.request.body).toEqual(Buffer.alloc(0));
  });
});

describe('fromLambdaResult', () => {
  it('keeps the status and headers and decodes a base64 body', () => {
    expect(
      fromLambdaResult({
        statusCode: 416,
        headers: { 'BITS-Packet-Type': 'Ack', 'Content-Length': 0, 'X-Flag': true },
        body: 'AAEC/w==',
        isBase64Encoded: true,
      }),
    ).toEqual({
      statusCode: 416,
      headers: { 'BITS-Packet-Type': 'Ack', 'Content-Length': '0', 'X-Flag': 'true' },
      body: Buffer.from([0, 1, 2, 255]),
    });
  });

  it('reads a text body as UTF-8 and an empty body as none', () => {
    expect(fromLambdaResult({ statusCode: 200, body: 'é' }).body).toEqual(Buffer.from('é', 'utf8'));
    expect(fromLambdaResult({ statusCode: 200, body: '', isBase64Encoded: false })).toEqual({
      statusCode: 200,
      headers: {},
    });
  });

  it('reads a result without statusCode as HTTP APIs do: 200, JSON, the result as body', () => {
    expect(fromLambdaResult('hello')).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('hello'),
    });
    expect(fromLambdaResult({ body: 'x' } as never).body?.toString()).toBe('{"body":"x"}');
  });
});
