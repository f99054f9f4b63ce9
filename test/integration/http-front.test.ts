import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type FrontRequest,
  type FrontResponse,
  type HttpFront,
  startHttpFront,
} from '../../local/http/server';
import { RawConnection, rawRequest } from '../helpers/raw-http-client';

const TIMEOUT_MS = 400;
const E_INVALIDARG = '0x80070057';
const BG_E_TOO_LARGE = '0x80200020';
const E_FAIL = '0x80004005';

let front: HttpFront;
const calls: FrontRequest[] = [];
const errors: unknown[] = [];
let inFlight = 0;
let maxInFlight = 0;

/** The test application: echoes the request, with a few paths that misbehave on purpose. */
async function app(request: FrontRequest): Promise<FrontResponse> {
  calls.push(request);
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  try {
    const delay = /[?&]ms=(\d+)/.exec(request.target)?.[1];
    if (delay !== undefined) await sleep(Number(delay));
    if (request.path === '/throw') throw new Error('application failure');
    if (request.path === '/bad-header')
      return { statusCode: 200, headers: { 'X-Split': 'a\r\nInjected: yes' } };
    if (request.path === '/close') return { statusCode: 200, headers: { Connection: 'close' } };
    if (request.path === '/sized') return { statusCode: 200, headers: {}, body: Buffer.from('abc') };
    return {
      statusCode: 200,
      headers: {
        'X-Method': request.method,
        'X-Target': request.target,
        'X-Path': request.path,
        'X-N': request.headers['x-n'] ?? '',
        'X-Remote': request.remoteAddress,
        'Content-Length': '999', // the front owns framing: this must be replaced
      },
      ...(request.body.length > 0 ? { body: request.body } : {}),
    };
  } finally {
    inFlight--;
  }
}

beforeAll(async () => {
  front = await startHttpFront({
    onRequest: (request) => {
      if (request.path === '/throw-sync') throw new Error('synchronous application failure');
      return app(request);
    },
    maxBodyBytes: (headers) => (headers['bits-packet-type']?.toLowerCase() === 'ping' ? 0 : 64 * 1024),
    headerTimeoutMs: TIMEOUT_MS,
    idleTimeoutMs: TIMEOUT_MS,
    onError: (error) => errors.push(error),
  });
});

afterAll(() => front.close());

beforeEach(() => {
  calls.length = 0;
  errors.length = 0;
  maxInFlight = 0;
});

const open = (): Promise<RawConnection> => RawConnection.open(front.port);

async function exchange(bytes: Buffer | string) {
  const connection = await open();
  connection.write(bytes);
  const [response] = await connection.responses(1);
  return { connection, response };
}

function expectFrontRefusal(
  response: { status: number; headers: Readonly<Record<string, string>>; body: Buffer } | undefined,
  status: number,
  hresult: string,
) {
  expect(response?.status).toBe(status);
  expect(response?.headers).toMatchObject({
    'bits-packet-type': 'Ack',
    'bits-error-code': hresult,
    'bits-error': hresult,
    'bits-error-context': '0x5',
    'content-length': '0',
    connection: 'close',
  });
  expect(response?.body).toHaveLength(0);
}

describe('local HTTP front: answers', () => {
  it('passes a BITS_POST request to the application and writes its answer with framing of its own', async () => {
    const { connection, response } = await exchange(
      rawRequest({
        target: '/up/a.bin?x=1',
        headers: ['X-N: 7', 'BITS-Packet-Type: Fragment'],
        body: 'hello',
      }),
    );
    expect(response?.status).toBe(200);
    expect(response?.reason).toBe('OK');
    expect(response?.headers).toMatchObject({
      'x-method': 'BITS_POST',
      'x-target': '/up/a.bin?x=1',
      'x-path': '/up/a.bin',
      'x-n': '7',
      'x-remote': '127.0.0.1',
      'content-length': '5',
    });
    expect(response?.headers.date).toMatch(
      /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
    );
    expect(response?.headers.connection).toBeUndefined();
    expect(response?.body.toString()).toBe('hello');
    expect(calls[0]?.headers['bits-packet-type']).toBe('Fragment');
    expect(calls[0]?.rawHeaders).toContainEqual(['BITS-Packet-Type', 'Fragment']);
    connection.destroy();
  });

  it('writes Content-Length: 0 when the application gives no body', async () => {
    const { connection, response } = await exchange(rawRequest({ headers: ['BITS-Packet-Type: Ping'] }));
    expect(response?.status).toBe(200);
    expect(response?.headers['content-length']).toBe('0');
    expect(response?.body).toHaveLength(0);
    connection.destroy();
  });

  it('sends headers but no body bytes to HEAD', async () => {
    const connection = await open();
    connection.write(rawRequest({ method: 'HEAD', target: '/sized' }));
    await connection.waitFor(() => connection.received.includes('\r\n\r\n'), 2000, 'a response head');
    await sleep(50);
    const received = connection.received.toString('latin1');
    expect(received).toMatch(/\r\nContent-Length: 3\r\n/);
    expect(received.endsWith('\r\n\r\n')).toBe(true);
    connection.destroy();
  });
});

describe('local HTTP front: connections', () => {
  it('keeps the connection open between requests (HTTP/1.1 keep-alive)', async () => {
    const connection = await open();
    connection.write(rawRequest({ headers: ['X-N: 1'] }));
    await connection.responses(1);
    connection.write(rawRequest({ headers: ['X-N: 2'] }));
    const responses = await connection.responses(2);
    expect(responses.map((r) => r.headers['x-n'])).toEqual(['1', '2']);
    expect(connection.closed).toBe(false);
    connection.destroy();
  });

  it('honours Connection: close from the client', async () => {
    const { connection, response } = await exchange(rawRequest({ headers: ['Connection: close'] }));
    expect(response?.status).toBe(200);
    expect(response?.headers.connection).toBe('close');
    await connection.waitForClose();
  });

  it('closes after an answer whose headers say Connection: close', async () => {
    const { connection, response } = await exchange(rawRequest({ target: '/close' }));
    expect(response?.headers.connection).toBe('close');
    await connection.waitForClose();
  });

  it('answers pipelined requests strictly in order, one application call at a time', async () => {
    const connection = await open();
    connection.write(
      Buffer.concat([
        rawRequest({ target: '/p?ms=80', headers: ['X-N: 1'] }),
        rawRequest({ target: '/p', headers: ['X-N: 2'], body: 'two' }),
        rawRequest({ target: '/p?ms=20', headers: ['X-N: 3'] }),
      ]),
    );
    const responses = await connection.responses(3);
    expect(responses.map((r) => r.headers['x-n'])).toEqual(['1', '2', '3']);
    expect(responses[1]?.body.toString()).toBe('two');
    expect(maxInFlight).toBe(1);
    connection.destroy();
  });

  it('answers the valid requests before a broken one in a pipeline, then refuses and closes', async () => {
    const connection = await open();
    connection.write(
      Buffer.concat([
        rawRequest({ headers: ['X-N: 1'] }),
        Buffer.from('BITS_POST / HTTP/1.0\r\nHost: h\r\n\r\n'),
        rawRequest({ headers: ['X-N: 3'] }),
      ]),
    );
    await connection.waitForClose();
    const responses = connection.parsed.responses;
    expect(responses.map((r) => r.status)).toEqual([200, 400]);
    expect(calls).toHaveLength(1);
  });

  it('answers complete requests after the client half-closes, then closes', async () => {
    const connection = await open();
    connection.write(
      Buffer.concat([rawRequest({ headers: ['X-N: 1'] }), rawRequest({ headers: ['X-N: 2'] })]),
    );
    connection.end();
    await connection.waitForClose(TIMEOUT_MS / 2); // well before the idle timeout could do it
    expect(connection.parsed.responses.map((r) => r.headers['x-n'])).toEqual(['1', '2']);
  });

  it('survives clients that reset mid-request or while their request is being answered', async () => {
    const early = await open();
    early.write('BITS_POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab');
    await sleep(20);
    early.socket.resetAndDestroy();
    const late = await open();
    late.write(rawRequest({ target: '/r?ms=50' }));
    await sleep(10);
    late.socket.resetAndDestroy();
    await sleep(80);
    const { connection, response } = await exchange(rawRequest());
    expect(response?.status).toBe(200);
    expect(errors).toEqual([]);
    connection.destroy();
  });
});

describe('local HTTP front: 100-continue', () => {
  it('sends 100 Continue before reading the body, then the answer', async () => {
    const connection = await open();
    const whole = rawRequest({ headers: ['Expect: 100-continue'], body: 'hello' });
    const headEnd = whole.indexOf('\r\n\r\n') + 4;
    connection.write(whole.subarray(0, headEnd));
    await connection.waitFor(() => connection.parsed.responses.length === 1, 2000, '100 Continue');
    expect(connection.parsed.responses[0]?.status).toBe(100);
    expect(connection.received.toString('latin1')).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    expect(calls).toHaveLength(0);
    connection.write(whole.subarray(headEnd));
    const [response] = await connection.responses(1);
    expect(response?.status).toBe(200);
    expect(response?.body.toString()).toBe('hello');
    connection.destroy();
  });

  it('sends the refusal instead of 100 Continue when the body is too large', async () => {
    const { connection, response } = await exchange(
      'BITS_POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n',
    );
    expect(connection.parsed.responses[0]?.status).toBe(413);
    expectFrontRefusal(response, 413, BG_E_TOO_LARGE);
    await connection.waitForClose();
  });
});

describe('local HTTP front: refusals carry BITS error headers and close', () => {
  it('answers 413 from the headers alone, before any body byte, and never calls the application', async () => {
    const { connection, response } = await exchange(
      'BITS_POST /up HTTP/1.1\r\nHost: h\r\nBITS-Packet-Type: Fragment\r\nContent-Length: 65537\r\n\r\n',
    );
    expectFrontRefusal(response, 413, BG_E_TOO_LARGE);
    expect(response?.reason).toBe('Content Too Large');
    await connection.waitForClose();
    expect(calls).toHaveLength(0);
  });

  it('asks the maxBodyBytes callback per request (a Ping may not have a body)', async () => {
    const { response } = await exchange(rawRequest({ headers: ['BITS-Packet-Type: PING'], body: 'x' }));
    expectFrontRefusal(response, 413, BG_E_TOO_LARGE);
  });

  it('answers 431 to a header block over 16 KiB', async () => {
    const { connection, response } = await exchange(
      rawRequest({ headers: [`X-Pad: ${'a'.repeat(17 * 1024)}`] }),
    );
    expectFrontRefusal(response, 431, E_INVALIDARG);
    await connection.waitForClose();
  });

  it('answers 400 with BITS error headers to HTTP/1.0 (bits-protocol.md §12 D20)', async () => {
    const { connection, response } = await exchange(
      'BITS_POST /up/a.bin HTTP/1.0\r\nHost: h\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n',
    );
    expectFrontRefusal(response, 400, E_INVALIDARG);
    await connection.waitForClose();
    expect(calls).toHaveLength(0);
  });

  it('answers 501 to a chunked body', async () => {
    const { response } = await exchange(
      'BITS_POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    expectFrontRefusal(response, 501, E_INVALIDARG);
  });

  it('answers 400 to a malformed Content-Length', async () => {
    const { response } = await exchange(
      'BITS_POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\nhello',
    );
    expectFrontRefusal(response, 400, E_INVALIDARG);
  });

  it('answers 417 to an expectation other than 100-continue', async () => {
    const { response } = await exchange(rawRequest({ headers: ['Expect: 200-ok'] }));
    expectFrontRefusal(response, 417, E_INVALIDARG);
  });

  it('answers 400 to a TLS handshake sent to the plain port', async () => {
    const { response } = await exchange(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]));
    expectFrontRefusal(response, 400, E_INVALIDARG);
  });
});

describe('local HTTP front: application faults', () => {
  it.each([
    ['rejects', '/throw'],
    ['throws synchronously', '/throw-sync'],
    ['answers an unsendable header', '/bad-header'],
  ])(
    'answers 500 with E_FAIL when the application %s, logs once and keeps the connection',
    async (_, target) => {
      const connection = await open();
      connection.write(rawRequest({ target }));
      const [failed] = await connection.responses(1);
      expect(failed?.status).toBe(500);
      expect(failed?.headers).toMatchObject({
        'bits-packet-type': 'Ack',
        'bits-error-code': E_FAIL,
        'bits-error': E_FAIL,
        'bits-error-context': '0x5',
        'content-length': '0',
      });
      expect(failed?.headers.injected).toBeUndefined();
      expect(errors).toHaveLength(1);
      connection.write(rawRequest({ headers: ['X-N: after'] }));
      const responses = await connection.responses(2);
      expect(responses[1]?.status).toBe(200);
      expect(responses[1]?.headers['x-n']).toBe('after');
      connection.destroy();
    },
  );
});

describe('local HTTP front: timeouts', () => {
  it('closes a connection that never sends anything, without a response', async () => {
    const started = Date.now();
    const connection = await open();
    await connection.waitForClose(TIMEOUT_MS * 5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(connection.received).toHaveLength(0);
  });

  it('closes an idle keep-alive connection after its last answer', async () => {
    const { connection } = await exchange(rawRequest());
    const answered = connection.received.length;
    await connection.waitForClose(TIMEOUT_MS * 5);
    expect(connection.received).toHaveLength(answered);
  });

  it('answers 408 to a client trickling its header block (header timeout)', async () => {
    const connection = await open();
    const bytes = Buffer.from(
      'BITS_POST /up/a.bin HTTP/1.1\r\nHost: h\r\nX-Slow: abcdefghijklmnopqrstuvwxyz',
    );
    let index = 0;
    const trickle = setInterval(() => {
      if (index < bytes.length && !connection.closed) connection.write(bytes.subarray(index, ++index));
    }, 40);
    try {
      const [response] = await connection.responses(1, TIMEOUT_MS * 5);
      expectFrontRefusal(response, 408, E_INVALIDARG);
      await connection.waitForClose();
    } finally {
      clearInterval(trickle);
    }
    expect(index).toBeGreaterThan(3);
  });

  it('answers 408 to a client that stops in the middle of a body (idle timeout)', async () => {
    const { connection, response } = await exchange(
      'BITS_POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc',
    );
    expectFrontRefusal(response, 408, E_INVALIDARG);
    expect(calls).toHaveLength(0);
    await connection.waitForClose();
  });

  it('does not count time spent in the application against the client', async () => {
    const { connection, response } = await exchange(rawRequest({ target: `/slow?ms=${TIMEOUT_MS * 2}` }));
    expect(response?.status).toBe(200);
    connection.destroy();
  });
});

describe('local HTTP front: Node http client', () => {
  const send = (agent: http.Agent, body: string) =>
    new Promise<{ status: number; body: string; reused: boolean; headers: http.IncomingHttpHeaders }>(
      (resolve, reject) => {
        const request = http.request(
          `${front.url}/up/a.bin`,
          { method: 'BITS_POST', agent, headers: { 'BITS-Packet-Type': 'Fragment' } },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () =>
              resolve({
                status: response.statusCode ?? 0,
                body: Buffer.concat(chunks).toString(),
                reused: request.reusedSocket,
                headers: response.headers,
              }),
            );
          },
        );
        request.on('error', reject);
        request.end(body);
      },
    );

  it('serves BITS_POST from http.request over one keep-alive connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await send(agent, 'one');
      const second = await send(agent, '');
      expect(first).toMatchObject({ status: 200, body: 'one', reused: false });
      expect(first.headers['x-method']).toBe('BITS_POST');
      expect(second).toMatchObject({ status: 200, body: '', reused: true });
    } finally {
      agent.destroy();
    }
  });
});
