import { createHash } from 'node:crypto';
import type { ALBResult, APIGatewayProxyResult } from 'aws-lambda';
import { formatResult, parseEvent, usesMultiValueHeaders } from '../../../lambda/protocol/event';
import { BITS_PROTOCOL, makeBitsEvent } from '../../helpers/events';
import { makeTestBed } from '../../helpers/test-deps';

const body = Buffer.from('hello\u0000world');

function restV1Event(multi: boolean) {
  const headers = { 'BITS-Packet-Type': 'Ping', 'Content-Length': '0' };
  return {
    resource: '/{proxy+}',
    path: '/up/a.bin',
    httpMethod: 'BITS_POST',
    headers: multi ? null : headers,
    multiValueHeaders: multi ? { 'BITS-Packet-Type': ['Ping'], 'Content-Length': ['0'] } : null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'r', identity: {} },
  };
}

function albEvent() {
  return {
    requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/1' } },
    httpMethod: 'BITS_POST',
    path: '/up/a.bin',
    queryStringParameters: {},
    multiValueHeaders: {
      'bits-packet-type': ['Fragment'],
      'content-length': [String(body.length)],
      accept: ['*/*', 'text/plain'],
    },
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

describe('parseEvent', () => {
  it('reads HTTP API payload 2.0 events with base64 bodies and strips the query string', () => {
    const event = {
      ...makeBitsEvent({ body, headers: { 'BITS-Packet-Type': 'Fragment' } }),
      rawPath: '/a.bin?x=1',
    };
    const parsed = parseEvent(event);
    expect(parsed?.shape).toBe('http-api-v2');
    expect(parsed?.request.method).toBe('BITS_POST');
    expect(parsed?.request.path).toBe('/a.bin');
    expect(parsed?.request.body.equals(body)).toBe(true);
    expect(parsed?.request.headers['bits-packet-type']).toBe('Fragment');
  });

  it('reads REST API 1.0 events with single- or multi-value headers, names case-insensitive', () => {
    for (const multi of [false, true]) {
      const parsed = parseEvent(restV1Event(multi));
      expect(parsed?.shape).toBe('rest-v1');
      expect(parsed?.request.headers['bits-packet-type']).toBe('Ping');
      expect(parsed?.request.body.length).toBe(0);
    }
  });

  it('reads ALB events, joining repeated headers with ", "', () => {
    const parsed = parseEvent(albEvent());
    expect(parsed?.shape).toBe('alb');
    expect(parsed?.request.headers.accept).toBe('*/*, text/plain');
    expect(parsed?.request.body.equals(body)).toBe(true);
    expect(usesMultiValueHeaders(albEvent())).toBe(true);
  });

  it('treats headers named like Object members as plain headers', () => {
    const event = makeBitsEvent({ headers: { Constructor: 'y', toString: 'w' } });
    const headers = parseEvent(event)?.request.headers;
    expect(headers?.constructor).toBe('y');
    expect(headers?.tostring).toBe('w');
  });

  it.each([null, 42, {}, { requestContext: {} }, { version: '2.0', requestContext: {} }])(
    'returns undefined for a non-front event %j',
    (event) => expect(parseEvent(event)).toBeUndefined(),
  );
});

describe('formatResult', () => {
  const response = { statusCode: 416, headers: { 'BITS-Packet-Type': 'Ack' } };

  it('adds the status description ALB requires and keeps multi-value mode', () => {
    const result = formatResult(response, 'alb', true) as ALBResult;
    expect(result.statusDescription).toBe('416 Range Not Satisfiable');
    expect(result.multiValueHeaders).toEqual({ 'BITS-Packet-Type': ['Ack'] });
    expect(result.body).toBe('');
  });

  it('answers API Gateway with plain headers and an empty body', () => {
    const result = formatResult(response, 'rest-v1', false) as APIGatewayProxyResult;
    expect(result).toEqual({
      statusCode: 416,
      headers: { 'BITS-Packet-Type': 'Ack' },
      body: '',
      isBase64Encoded: false,
    });
  });
});

describe('createHandler across fronts', () => {
  it('uploads through ALB events and answers in ALB multi-value shape', async () => {
    const bed = makeTestBed();
    const create = (await bed.handler({
      ...albEvent(),
      multiValueHeaders: {
        'BITS-Packet-Type': ['Create-Session'],
        'BITS-Supported-Protocols': [BITS_PROTOCOL],
        'Content-Length': ['0'],
      },
      body: '',
      isBase64Encoded: false,
    })) as ALBResult;
    expect(create.statusCode).toBe(200);
    const id = create.multiValueHeaders?.['BITS-Session-Id']?.[0];
    expect(id).toBeDefined();
    const event = albEvent();
    const fragment = (await bed.handler({
      ...event,
      multiValueHeaders: {
        ...event.multiValueHeaders,
        'bits-session-id': [String(id)],
        'content-range': [`bytes 0-${body.length - 1}/${body.length}`],
      },
    })) as ALBResult;
    expect(fragment.statusDescription).toBe('200 OK');
    expect(fragment.multiValueHeaders?.['BITS-Received-Content-Range']).toEqual([String(body.length)]);
    const hash = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    const close = (await bed.handler({
      ...event,
      multiValueHeaders: {
        'bits-packet-type': ['Close-Session'],
        'bits-session-id': [String(id)],
        'content-length': ['0'],
      },
      body: '',
      isBase64Encoded: false,
    })) as ALBResult;
    expect(close.statusCode).toBe(200);
    expect(hash(bed.uploads.objects.get('uploads/up/a.bin')?.body ?? Buffer.alloc(0))).toBe(hash(body));
  });

  it('answers an unknown event shape with 500 E_FAIL instead of throwing', async () => {
    const result = (await makeTestBed().handler({ hello: 'world' })) as APIGatewayProxyResult;
    expect(result.statusCode).toBe(500);
    expect(result.headers?.['BITS-Error-Code']).toBe('0x80004005');
  });
});
