import fc from 'fast-check';
import {
  type HttpParseError,
  type ParsedRequest,
  type ParseErrorCode,
  RequestParser,
  type RequestParserOptions,
} from '../../../local/http/request-parser';

/** A request from its lines; the empty line (and the body) are added. */
const message = (lines: readonly string[], body = ''): Buffer =>
  Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');

const bitsPost = (extra: readonly string[] = [], body = 'hello'): Buffer =>
  message(
    [
      'BITS_POST /up/a.bin HTTP/1.1',
      'Host: 127.0.0.1',
      'BITS-Packet-Type: Fragment',
      `Content-Length: ${body.length}`,
      ...extra,
    ],
    body,
  );

interface Outcome {
  readonly requests: ParsedRequest[];
  readonly heads: number;
  readonly error: HttpParseError | undefined;
  readonly parser: RequestParser;
}

/** Pushes each chunk and drains the parser after each, as the server does. */
function parse(chunks: Buffer | readonly Buffer[], options?: RequestParserOptions): Outcome {
  const parser = new RequestParser(options);
  const requests: ParsedRequest[] = [];
  let heads = 0;
  let error: HttpParseError | undefined;
  for (const chunk of Buffer.isBuffer(chunks) ? [chunks] : chunks) {
    parser.push(chunk);
    for (let step = parser.next(); step.type !== 'need-more'; step = parser.next()) {
      if (step.type === 'error') {
        error = step.error;
        break;
      }
      if (step.type === 'head') heads++;
      else requests.push(step.request);
    }
    if (error) break;
  }
  return { requests, heads, error, parser };
}

const errorOf = (input: Buffer, options?: RequestParserOptions): { code: ParseErrorCode; status: number } => {
  const { error } = parse(input, options);
  if (error === undefined) throw new Error('expected a parse error');
  return { code: error.code, status: error.status };
};

/** Every way to cut a buffer in two. */
const splitsOf = (input: Buffer): Buffer[][] =>
  Array.from({ length: input.length + 1 }, (_, at) => [input.subarray(0, at), input.subarray(at)]);

describe('RequestParser: request line', () => {
  it('accepts the extension method BITS_POST with an origin-form target', () => {
    const { requests, error } = parse(bitsPost());
    expect(error).toBeUndefined();
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.head.method).toBe('BITS_POST');
    expect(request?.head.target).toBe('/up/a.bin');
    expect(request?.head.path).toBe('/up/a.bin');
    expect(request?.body.toString()).toBe('hello');
  });

  it('accepts any RFC 9110 token as the method, case preserved', () => {
    for (const method of ['GET', 'bits_post', "X!#$%&'*+-.^_`|~9"]) {
      const { requests } = parse(message([`${method} / HTTP/1.1`, 'Host: h']));
      expect(requests[0]?.head.method).toBe(method);
    }
  });

  it.each([
    ['a method with a forbidden character', 'BITS(POST) / HTTP/1.1', 'bad-method'],
    ['a method with a slash', 'BITS/POST / HTTP/1.1', 'bad-method'],
    ['a line starting with a space', ' GET / HTTP/1.1', 'bad-method'],
    ['a method alone', 'GET', 'bad-request-line'],
    ['no version', 'GET /', 'bad-request-line'],
    ['two spaces after the method', 'GET  / HTTP/1.1', 'bad-target'],
    ['an absolute-form target', 'GET http://h/ HTTP/1.1', 'bad-target'],
    ['an asterisk-form target', 'OPTIONS * HTTP/1.1', 'bad-target'],
    ['a space inside the target', 'GET /a b HTTP/1.1', 'bad-version'],
    ['a tab inside the target', 'GET /a\tb HTTP/1.1', 'bad-target'],
    ['a DEL inside the target', 'GET /a\x7fb HTTP/1.1', 'bad-target'],
    ['a non-ASCII byte inside the target', 'GET /\xe9 HTTP/1.1', 'bad-target'],
    ['a NUL inside the target', 'GET /a\x00 HTTP/1.1', 'bad-target'],
    ['a lower-case protocol name', 'GET / http/1.1', 'bad-version'],
    ['HTTP/2.0', 'GET / HTTP/2.0', 'bad-version'],
    ['HTTP/1.2', 'GET / HTTP/1.2', 'bad-version'],
    ['HTTP/1.10', 'GET / HTTP/1.10', 'bad-version'],
    ['a space after the version', 'GET / HTTP/1.1 ', 'bad-version'],
    ['HTTP/1.0', 'GET / HTTP/1.0', 'http-1.0'],
  ])('answers 400 to %s', (_, line, code) => {
    expect(errorOf(message([line, 'Host: h']))).toEqual({ code, status: 400 });
  });

  it('gives HTTP/1.0 its own error code, still a 400', () => {
    expect(errorOf(message(['BITS_POST /up/a.bin HTTP/1.0', 'Host: h', 'Content-Length: 0']))).toEqual({
      code: 'http-1.0',
      status: 400,
    });
  });

  it('rejects garbage before the line ends, without waiting for more bytes', () => {
    for (const partial of ['GE(', 'GET x', 'GET / HTTX', 'GET / HTTP/1.1x', '\x16\x03\x01', '{"json"']) {
      expect(parse(Buffer.from(partial, 'latin1')).error?.status).toBe(400);
    }
  });

  it('keeps the query string in the target and out of the path', () => {
    const { requests } = parse(message(['GET /up/a.bin?x=1&y=%20 HTTP/1.1', 'Host: h']));
    expect(requests[0]?.head.target).toBe('/up/a.bin?x=1&y=%20');
    expect(requests[0]?.head.path).toBe('/up/a.bin');
  });

  it('skips empty lines before the request line (RFC 9112 §2.2)', () => {
    const { requests } = parse(Buffer.concat([Buffer.from('\r\n\r\n'), bitsPost()]));
    expect(requests).toHaveLength(1);
  });

  it.each([
    ['a bare LF ending the request line', 'GET / HTTP/1.1\nHost: h\r\n\r\n'],
    ['a bare CR ending the request line', 'GET / HTTP/1.1\rHost: h\r\n\r\n'],
    ['a bare LF ending a field line', 'GET / HTTP/1.1\r\nHost: h\n\r\n'],
    ['a bare CR inside a field value', 'GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n'],
    ['a bare LF ending the header block', 'GET / HTTP/1.1\r\nHost: h\r\n\n'],
    ['a bare LF before the request line', '\nGET / HTTP/1.1\r\nHost: h\r\n\r\n'],
  ])('answers 400 to %s', (_, raw) => {
    expect(parse(Buffer.from(raw, 'latin1')).error?.status).toBe(400);
  });
});

describe('RequestParser: field lines', () => {
  it('lower-cases names, joins repeats with ", ", trims OWS and keeps raw order and case', () => {
    const { requests } = parse(
      message(['GET / HTTP/1.1', 'Host: h', 'X-A:  one \t', 'x-a:two', 'X-Empty:', 'X-Inner: a  b']),
    );
    const head = requests[0]?.head;
    expect(head?.headers['x-a']).toBe('one, two');
    expect(head?.headers['x-empty']).toBe('');
    expect(head?.headers['x-inner']).toBe('a  b');
    expect(head?.rawHeaders).toEqual([
      ['Host', 'h'],
      ['X-A', 'one'],
      ['x-a', 'two'],
      ['X-Empty', ''],
      ['X-Inner', 'a  b'],
    ]);
  });

  it('keeps obs-text bytes (latin1) in values', () => {
    const { requests } = parse(message(['GET / HTTP/1.1', 'Host: h', 'Content-Name: caf\xe9\xa0']));
    expect(requests[0]?.head.headers['content-name']).toBe('caf\xe9\xa0');
  });

  it('stores names that collide with Object.prototype as ordinary headers', () => {
    const { requests } = parse(message(['GET / HTTP/1.1', 'Host: h', '__proto__: x', 'Constructor: y']));
    const headers = requests[0]?.head.headers ?? {};
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('x');
    expect(headers.constructor).toBe('y');
    expect(Object.keys(headers).sort()).toEqual(['__proto__', 'constructor', 'host']);
  });

  it.each([
    ['whitespace before the colon', 'Host : h', 'bad-header-name'],
    ['a tab before the colon', 'X-A\t: v', 'bad-header-name'],
    ['no colon', 'X-A v', 'bad-header-name'],
    ['an empty name', ': v', 'bad-header-name'],
    ['a non-token name', 'X[A]: v', 'bad-header-name'],
    ['a NUL in a value', 'X-A: a\x00b', 'bad-header-value'],
    ['an ESC in a value', 'X-A: a\x1bb', 'bad-header-value'],
    ['a DEL in a value', 'X-A: a\x7fb', 'bad-header-value'],
  ])('answers 400 to %s', (_, line, code) => {
    expect(errorOf(message(['GET / HTTP/1.1', 'Host: h', line]))).toEqual({ code, status: 400 });
  });

  it('answers 400 to obs-fold (a continuation line)', () => {
    expect(errorOf(message(['GET / HTTP/1.1', 'Host: h', 'X-A: one', ' two']))).toEqual({
      code: 'obs-fold',
      status: 400,
    });
    expect(errorOf(message(['GET / HTTP/1.1', '\tHost: h'])).code).toBe('obs-fold');
  });

  it('requires exactly one Host (RFC 9112 §3.2)', () => {
    expect(errorOf(message(['GET / HTTP/1.1']))).toEqual({ code: 'missing-host', status: 400 });
    expect(errorOf(message(['GET / HTTP/1.1', 'Host: a', 'host: a']))).toEqual({
      code: 'duplicate-host',
      status: 400,
    });
    expect(parse(message(['GET / HTTP/1.1', 'Host:'])).requests).toHaveLength(1);
  });
});

describe('RequestParser: header block size', () => {
  const padded = (total: number): Buffer => {
    const base = 'GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n';
    return message(['GET / HTTP/1.1', 'Host: h', `X-Pad: ${'a'.repeat(total - base.length)}`]);
  };

  it('accepts a block of exactly 16 KiB, request line and final CRLF included', () => {
    expect(padded(16 * 1024)).toHaveLength(16 * 1024);
    expect(parse(padded(16 * 1024)).requests).toHaveLength(1);
  });

  it('answers 431 to a block one byte over 16 KiB', () => {
    expect(errorOf(padded(16 * 1024 + 1))).toEqual({ code: 'headers-too-large', status: 431 });
  });

  it('answers 431 as soon as the limit is passed, before the block ends', () => {
    const { error } = parse(Buffer.from(`GET / HTTP/1.1\r\nX-Pad: ${'a'.repeat(16 * 1024)}`));
    expect(error?.status).toBe(431);
  });

  it('takes the limit from the options', () => {
    expect(errorOf(padded(200), { maxHeaderBytes: 199 }).status).toBe(431);
    expect(parse(padded(200), { maxHeaderBytes: 200 }).requests).toHaveLength(1);
  });
});

describe('RequestParser: framing', () => {
  it('reads exactly Content-Length bytes of body', () => {
    const { requests } = parse(message(['POST / HTTP/1.1', 'Host: h', 'Content-Length: 3'], 'abc'));
    expect(requests[0]?.body.toString()).toBe('abc');
  });

  it('treats a missing Content-Length as an empty body and the next bytes as the next request', () => {
    const { requests, error } = parse(
      Buffer.concat([message(['BITS_POST / HTTP/1.1', 'Host: h']), bitsPost()]),
    );
    expect(error).toBeUndefined();
    expect(requests.map((r) => r.body.length)).toEqual([0, 5]);
    expect(requests[0]?.head.contentLength).toBe(0);
  });

  it('accepts leading zeros, repeated equal values and an equal-valued list', () => {
    for (const lines of [
      ['Content-Length: 003'],
      ['Content-Length: 3', 'Content-Length: 3'],
      ['Content-Length: 3, 03'],
    ]) {
      const { requests } = parse(message(['POST / HTTP/1.1', 'Host: h', ...lines], 'abc'));
      expect(requests[0]?.head.contentLength).toBe(3);
    }
  });

  it.each([
    ['a sign', ['Content-Length: +3']],
    ['a negative value', ['Content-Length: -1']],
    ['hex', ['Content-Length: 0x3']],
    ['an empty value', ['Content-Length:']],
    ['an inner space', ['Content-Length: 1 2']],
    ['a decimal point', ['Content-Length: 3.0']],
    ['repeats that differ', ['Content-Length: 3', 'Content-Length: 4']],
    ['a list that differs', ['Content-Length: 3, 4']],
    ['an empty list member', ['Content-Length: 3,']],
    [
      'huge repeats that differ only past float precision',
      ['Content-Length: 99999999999999999999, 99999999999999999998'],
    ],
  ])('answers 400 to a Content-Length with %s', (_, lines) => {
    expect(errorOf(message(['POST / HTTP/1.1', 'Host: h', ...lines], 'abc'))).toEqual({
      code: 'bad-content-length',
      status: 400,
    });
  });

  it.each([
    ['chunked', ['Transfer-Encoding: chunked']],
    ['identity', ['Transfer-Encoding: identity']],
    ['chunked with a Content-Length too', ['Transfer-Encoding: chunked', 'Content-Length: 3']],
  ])('answers 501 to any Transfer-Encoding (%s)', (_, lines) => {
    expect(errorOf(message(['POST / HTTP/1.1', 'Host: h', ...lines], '3\r\nabc\r\n0\r\n\r\n'))).toEqual({
      code: 'transfer-encoding',
      status: 501,
    });
  });
});

describe('RequestParser: body limit', () => {
  it('answers 413 from the header block alone, before any body byte arrives', () => {
    const head = message(['BITS_POST / HTTP/1.1', 'Host: h', 'Content-Length: 1001']);
    const { error, heads } = parse(head, { maxBodyBytes: 1000 });
    expect(heads).toBe(0);
    expect(error).toMatchObject({ code: 'body-too-large', status: 413 });
  });

  it('accepts a body of exactly the limit', () => {
    const body = 'x'.repeat(1000);
    const { requests } = parse(message(['BITS_POST / HTTP/1.1', 'Host: h', 'Content-Length: 1000'], body), {
      maxBodyBytes: 1000,
    });
    expect(requests[0]?.body.length).toBe(1000);
  });

  it('answers 413 to a length beyond exact integers', () => {
    expect(errorOf(message(['POST / HTTP/1.1', 'Host: h', `Content-Length: ${'9'.repeat(30)}`])).status).toBe(
      413,
    );
  });

  it('asks a callback with the lower-cased headers and the head', () => {
    const seen: Array<[string | undefined, string]> = [];
    const maxBodyBytes = (headers: Readonly<Record<string, string>>, head: { method: string }): number => {
      seen.push([headers['bits-packet-type'], head.method]);
      return headers['bits-packet-type'] === 'Fragment' ? 10 : 0;
    };
    expect(parse(bitsPost(), { maxBodyBytes }).requests).toHaveLength(1);
    expect(parse(bitsPost(['X: y'], 'x'.repeat(11)), { maxBodyBytes }).error?.status).toBe(413);
    const ping = message(
      ['BITS_POST / HTTP/1.1', 'Host: h', 'BITS-Packet-Type: Ping', 'Content-Length: 1'],
      'x',
    );
    expect(parse(ping, { maxBodyBytes }).error?.status).toBe(413);
    expect(seen).toEqual([
      ['Fragment', 'BITS_POST'],
      ['Fragment', 'BITS_POST'],
      ['Ping', 'BITS_POST'],
    ]);
  });

  it('defaults to 10 MiB', () => {
    const at = (n: number) => parse(message(['POST / HTTP/1.1', 'Host: h', `Content-Length: ${n}`]));
    expect(at(10 * 1024 * 1024).error).toBeUndefined();
    expect(at(10 * 1024 * 1024 + 1).error?.status).toBe(413);
  });
});

describe('RequestParser: Expect and Connection', () => {
  it('flags Expect: 100-continue (any case) and answers 417 to other expectations', () => {
    expect(parse(bitsPost(['Expect: 100-Continue'])).requests[0]?.head.expectContinue).toBe(true);
    expect(parse(bitsPost()).requests[0]?.head.expectContinue).toBe(false);
    expect(errorOf(bitsPost(['Expect: something-else']))).toEqual({
      code: 'unsupported-expectation',
      status: 417,
    });
  });

  it('yields the head before the body arrives, so the server can send 100 Continue', () => {
    const whole = bitsPost(['Expect: 100-continue']);
    const headEnd = whole.indexOf('\r\n\r\n') + 4;
    const parser = new RequestParser();
    parser.push(whole.subarray(0, headEnd));
    const step = parser.next();
    expect(step.type).toBe('head');
    expect(step.type === 'head' && step.head.expectContinue).toBe(true);
    expect(parser.next().type).toBe('need-more');
    expect(parser.midRequest).toBe(true);
    expect(parser.awaitingHead).toBe(false);
    parser.push(whole.subarray(headEnd));
    expect(parser.next().type).toBe('request');
    expect(parser.midRequest).toBe(false);
  });

  it('keeps the connection alive unless Connection lists close', () => {
    expect(parse(bitsPost()).requests[0]?.head.keepAlive).toBe(true);
    expect(parse(bitsPost(['Connection: Keep-Alive'])).requests[0]?.head.keepAlive).toBe(true);
    expect(parse(bitsPost(['Connection: close'])).requests[0]?.head.keepAlive).toBe(false);
    expect(parse(bitsPost(['Connection: keep-alive, CLOSE'])).requests[0]?.head.keepAlive).toBe(false);
    expect(parse(bitsPost(['Connection: closed'])).requests[0]?.head.keepAlive).toBe(true);
  });
});

describe('RequestParser: streaming and pipelining', () => {
  const three = Buffer.concat([
    bitsPost(['X-N: 1'], 'one'),
    message(['GET /two?q HTTP/1.1', 'Host: h', 'X-N: 2']),
    bitsPost(['X-N: 3'], 'three!'),
  ]);

  it('yields pipelined requests in order and keeps the unfinished rest', () => {
    const partial = Buffer.concat([three, Buffer.from('BITS_POST /four HT')]);
    const { requests, parser } = parse(partial);
    expect(requests.map((r) => [r.head.headers['x-n'], r.body.toString()])).toEqual([
      ['1', 'one'],
      ['2', ''],
      ['3', 'three!'],
    ]);
    expect(parser.bufferedBytes).toBe('BITS_POST /four HT'.length);
    expect(parser.midRequest).toBe(true);
    parser.push(Buffer.from('TP/1.1\r\nHost: h\r\n\r\n'));
    expect(parser.next().type).toBe('head');
    const step = parser.next();
    expect(step.type === 'request' && step.request.head.path).toBe('/four');
  });

  it('gives the same requests whatever byte the input is split at', () => {
    const expected = parse(three).requests;
    for (const chunks of splitsOf(three)) expect(parse(chunks).requests).toEqual(expected);
  });

  it('gives the same requests when fed one byte at a time', () => {
    const bytes = Array.from(three, (byte) => Buffer.from([byte]));
    expect(parse(bytes).requests).toEqual(parse(three).requests);
  });

  it('gives the same result for any chunking (property)', () => {
    const input = Buffer.concat([three, message(['GET / HTTP/1.0', 'Host: h'])]);
    const whole = parse(input);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: input.length - 1 }), { maxLength: 40 }),
        (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), input.length];
          const chunks = points.slice(1).map((end, index) => input.subarray(points[index], end));
          const outcome = parse(chunks);
          expect(outcome.requests).toEqual(whole.requests);
          expect(outcome.error?.code).toBe('http-1.0');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws and never yields more than it was given, for any bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const outcome = parse(
          chunks.map((chunk) => Buffer.from(chunk)),
          { maxHeaderBytes: 256, maxBodyBytes: 64 },
        );
        const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
        const used = outcome.requests.reduce((sum, r) => sum + r.body.length, 0);
        expect(used).toBeLessThanOrEqual(total);
        if (outcome.error) expect([400, 413, 417, 431, 501]).toContain(outcome.error.status);
      }),
      { numRuns: 500 },
    );
  });

  it('stays failed after an error and drops what it held', () => {
    const { parser, error } = parse(Buffer.concat([message(['GET / HTTP/1.0', 'Host: h']), bitsPost()]));
    expect(error?.code).toBe('http-1.0');
    parser.push(bitsPost());
    const step = parser.next();
    expect(step.type === 'error' && step.error).toBe(error);
    expect(parser.bufferedBytes).toBe(0);
    expect(parser.awaitingHead).toBe(false);
  });

  it('lets a throwing body-limit callback escape (the server answers 500)', () => {
    const parser = new RequestParser({
      maxBodyBytes: () => {
        throw new Error('boom');
      },
    });
    parser.push(bitsPost());
    expect(() => parser.next()).toThrow('boom');
  });
});
