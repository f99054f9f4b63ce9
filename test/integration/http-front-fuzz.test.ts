import { setImmediate as nextTick } from 'node:timers/promises';
import fc from 'fast-check';
import {
  type FrontRequest,
  type FrontResponse,
  type HttpFront,
  startHttpFront,
} from '../../local/http/server';
import { finalResponses, RawConnection, rawRequest } from '../helpers/raw-http-client';

/**
 * Random byte streams against one running front: valid requests, broken ones and garbage,
 * pipelined and split at random byte boundaries. The server must answer what it can, refuse or
 * close the rest, never hang, and keep serving new connections.
 */

const TIMEOUT_MS = 100;
const MAX_BODY = 1024;
const CASE_LIMIT_MS = 3000;
const REFUSALS = [400, 408, 413, 417, 431, 501];

let front: HttpFront;
const errors: unknown[] = [];
let inFlight = 0;
let maxInFlight = 0;

async function echo(request: FrontRequest): Promise<FrontResponse> {
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  try {
    if (request.body.length % 3 === 0) await nextTick(); // some answers are not immediate
    return { statusCode: 200, headers: { 'X-Id': request.headers['x-id'] ?? '' }, body: request.body };
  } finally {
    inFlight--;
  }
}

beforeAll(async () => {
  front = await startHttpFront({
    onRequest: echo,
    maxBodyBytes: MAX_BODY,
    headerTimeoutMs: TIMEOUT_MS,
    idleTimeoutMs: TIMEOUT_MS,
    onError: (error) => errors.push(error),
  });
});

afterAll(() => front.close());

interface Piece {
  /** Builds the bytes; valid pieces carry `X-Id: <id>`. */
  readonly build: (id: number) => Buffer;
  readonly valid: boolean;
  /** A valid piece that asks the server to close after answering it. */
  readonly closes?: boolean;
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const fieldValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/);
const target = fc.stringMatching(/^\/[A-Za-z0-9._~%/!$&'()*+,;=:@-]{0,30}(\?[A-Za-z0-9=&%]{0,20})?$/);
const body = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes));

const validPiece: fc.Arbitrary<Piece> = fc
  .record({
    // HEAD answers carry no body, which this test's response reader does not model.
    method: fc.oneof(fc.constantFrom('BITS_POST', 'POST', 'GET', 'PUT'), token).filter((m) => m !== 'HEAD'),
    target,
    extra: fc.array(fc.tuple(token, fieldValue), { maxLength: 4 }),
    body,
    expectContinue: fc.boolean(),
    closes: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  })
  .filter(({ extra }) =>
    extra.every(
      ([name]) =>
        !['host', 'content-length', 'transfer-encoding', 'expect', 'connection', 'x-id'].includes(
          name.toLowerCase(),
        ),
    ),
  )
  .map(({ method, target, extra, body, expectContinue, closes }) => ({
    valid: true,
    closes,
    build: (id: number) =>
      rawRequest({
        method,
        target,
        body,
        headers: [
          `X-Id: ${id}`,
          ...extra.map(([name, value]) => `${name}: ${value}`),
          ...(expectContinue ? ['Expect: 100-continue'] : []),
          ...(closes ? ['Connection: close'] : []),
        ],
      }),
  }));

const broken = (build: (id: number) => Buffer | string): Piece => ({
  valid: false,
  build: (id) => {
    const bytes = build(id);
    return typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  },
});

const invalidPiece: fc.Arbitrary<Piece> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 80 }).map((bytes) => broken(() => Buffer.from(bytes))),
  fc.constant(broken((id) => `BITS_POST /a HTTP/1.0\r\nHost: h\r\nX-Id: ${id}\r\nContent-Length: 0\r\n\r\n`)),
  fc.constant(broken((id) => rawRequest({ headers: [`X-Id: ${id}`, `X-Pad: ${'p'.repeat(17 * 1024)}`] }))),
  fc
    .tuple(
      body,
      fc.integer({ min: -50, max: 50 }).filter((delta) => delta !== 0),
    )
    .map(([bytes, delta]) =>
      broken(
        (id) =>
          `POST /a HTTP/1.1\r\nHost: h\r\nX-Id: ${id}\r\nContent-Length: ${Math.max(0, bytes.length + delta)}\r\n\r\n${bytes.toString('latin1')}`,
      ),
    ),
  fc.constant(
    broken(() => 'POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
  ),
  fc.constant(broken(() => 'POST /a HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n')),
  fc.constant(broken(() => 'POST /a HTTP/1.1\nHost: h\nContent-Length: 0\n\n')),
  fc.constant(broken(() => `POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\nabc`)),
  fc.constant(broken(() => 'POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n')),
  fc.constant(
    broken(() => 'POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc'),
  ),
  fc.constant(broken(() => 'POST http://h/a HTTP/1.1\r\nHost: h\r\n\r\n')),
  fc.constant(broken(() => 'POST /a HTTP/1.1\r\nHost : h\r\n\r\n')),
  fc.constant(broken(() => 'POST /a HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n')),
);

const scenario = fc.record({
  pieces: fc.array(fc.oneof({ arbitrary: validPiece, weight: 3 }, { arbitrary: invalidPiece, weight: 2 }), {
    minLength: 1,
    maxLength: 4,
  }),
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
  // Mostly the client half-closes when done; otherwise the server's timeouts must end the exchange.
  halfClose: fc.integer({ min: 0, max: 19 }).map((n) => n !== 0),
});

/** The ids the server must answer with 200, in order: the valid pieces before the first broken one. */
function expectedPrefix(pieces: readonly Piece[]): { ids: string[]; exact: boolean } {
  const ids: string[] = [];
  for (const [id, piece] of pieces.entries()) {
    if (!piece.valid) return { ids, exact: false };
    ids.push(String(id));
    if (piece.closes) return { ids, exact: true };
  }
  return { ids, exact: true };
}

async function validRequestSucceeds(): Promise<void> {
  const connection = await RawConnection.open(front.port);
  connection.write(rawRequest({ headers: ['X-Id: check'], body: 'ok' }));
  const [response] = await connection.responses(1, CASE_LIMIT_MS);
  connection.destroy();
  expect(response?.status).toBe(200);
  expect(response?.body.toString()).toBe('ok');
}

it('never crashes or hangs on random, split, pipelined, valid and broken input (1,000 cases)', async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ pieces, cuts, halfClose }) => {
      const bytes = Buffer.concat(pieces.map((piece, id) => piece.build(id)));
      const points = [...new Set([0, ...cuts.map((cut) => cut % bytes.length), bytes.length])].sort(
        (a, b) => a - b,
      );
      const connection = await RawConnection.open(front.port);
      for (const [index, end] of points.slice(1).entries()) {
        if (connection.closed) break;
        connection.write(bytes.subarray(points[index], end));
        await nextTick();
      }
      if (halfClose && !connection.closed) connection.end();
      await connection.waitForClose(CASE_LIMIT_MS);
      connection.destroy();

      const { responses, rest, malformed } = connection.parsed;
      expect(malformed).toBe(false);
      expect(rest).toHaveLength(0);
      const answers = finalResponses(responses);
      for (const [index, answer] of answers.entries()) {
        if (answer.status === 200) continue;
        expect(REFUSALS).toContain(answer.status);
        expect(index).toBe(answers.length - 1); // a refusal is the last thing sent
        expect(answer.headers.connection).toBe('close');
        expect(answer.headers['bits-packet-type']).toBe('Ack');
        expect(answer.headers['bits-error-context']).toBe('0x5');
      }
      const { ids, exact } = expectedPrefix(pieces);
      const answeredIds = answers.map((answer) =>
        answer.status === 200 ? answer.headers['x-id'] : 'refused',
      );
      if (exact) expect(answeredIds).toEqual(ids);
      else expect(answeredIds.slice(0, ids.length)).toEqual(ids);

      await validRequestSucceeds();
    }),
    { numRuns: 1000, interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true },
  );
  expect(maxInFlight).toBe(1);
  expect(errors).toEqual([]);
}, 55_000);
