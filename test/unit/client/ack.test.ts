import {
  interpretAnswer,
  isTransientApplicationStatus,
  offersBasic,
  parseReceivedOffset,
  refusalDetails,
} from '../../../client/ack';
import { ApplicationError, ProtocolError, ServerRefusedError } from '../../../client/errors';
import { hresultName, parseHex } from '../../../client/hresult';
import type { HttpAnswer } from '../../../client/transport';

const answer = (status: number, headers: Record<string, string> = {}, bodyExcerpt = ''): HttpAnswer => ({
  status,
  statusText: 'Status',
  headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
  bodyExcerpt,
});
const bitsAck = (status: number, headers: Record<string, string> = {}): HttpAnswer =>
  answer(status, { 'BITS-Packet-Type': 'Ack', ...headers });
const bitsError = (status: number, code: string, context = '0x5'): HttpAnswer =>
  bitsAck(status, { 'BITS-Error-Code': code, 'BITS-Error-Context': context });

describe('Fragment Acks: 200 and 416 both move the offset', () => {
  test.each([
    [200, '4892', 4892],
    [416, '100', 100],
    [200, '0', 0],
  ])('%d with BITS-Received-Content-Range %s continues at %d', (status, header, received) => {
    const verdict = interpretAnswer(
      'Fragment',
      bitsAck(status, { 'BITS-Received-Content-Range': header }),
      4892,
    );
    expect(verdict).toEqual({ kind: 'offset', received });
  });

  test('keeps the BITS-Reply-URL of the Ack', () => {
    const verdict = interpretAnswer(
      'Fragment',
      bitsAck(200, { 'BITS-Received-Content-Range': '10', 'BITS-Reply-URL': 'r/x' }),
      10,
    );
    expect(verdict).toEqual({ kind: 'offset', received: 10, replyUrl: 'r/x' });
  });

  test.each([
    ['missing', undefined],
    ['not a number', 'bytes 0-9'],
    ['negative', '-1'],
    ['past the file', '11'],
  ])('a %s offset is a protocol error', (_label, header) => {
    const verdict = interpretAnswer(
      'Fragment',
      bitsAck(200, header === undefined ? {} : { 'BITS-Received-Content-Range': header }),
      10,
    );
    expect(verdict.kind).toBe('fatal');
    expect(verdict.kind === 'fatal' && verdict.error).toBeInstanceOf(ProtocolError);
  });

  test('413 on a Fragment asks for smaller fragments, with or without BITS headers', () => {
    expect(interpretAnswer('Fragment', bitsError(413, '0x80200020'), 10).kind).toBe('shrink');
    expect(interpretAnswer('Fragment', answer(413), 10).kind).toBe('shrink');
    expect(interpretAnswer('Create-Session', answer(413)).kind).toBe('fatal');
  });
});

describe('error answers', () => {
  test.each([
    [
      'BG_E_SESSION_NOT_FOUND on any packet restarts',
      'Fragment',
      bitsError(500, '0x8020001F'),
      'session-lost',
    ],
    [
      'lower-case hex and the BITS-Error name are read too',
      'Close-Session',
      bitsAck(500, { 'BITS-Error': '0x8020001f' }),
      'session-lost',
    ],
    ['503 E_FAIL is transient', 'Fragment', bitsError(503, '0x80004005'), 'transient'],
    ['a 502 from a front is transient', 'Create-Session', answer(502), 'transient'],
    ['BG_E_TOO_LARGE (500) is fatal', 'Fragment', bitsError(500, '0x80200020'), 'fatal'],
    [
      'E_ACCESSDENIED (501, uploads disabled) is fatal',
      'Create-Session',
      bitsError(501, '0x80070005'),
      'fatal',
    ],
    ['505 is fatal', 'Ping', answer(505), 'fatal'],
    ['400 E_INVALIDARG is fatal', 'Fragment', bitsError(400, '0x80070057'), 'fatal'],
    ['403 is fatal', 'Create-Session', bitsError(403, '0x80070005'), 'fatal'],
    ['408 is transient', 'Fragment', answer(408), 'transient'],
    ['429 (throttling) is transient', 'Fragment', answer(429), 'transient'],
    [
      '409 from the server application is transient',
      'Fragment',
      bitsError(409, '0x80004005', '0x7'),
      'transient',
    ],
    ['409 from the BITS server is fatal', 'Create-Session', bitsError(409, '0x80070005'), 'fatal'],
    ['416 outside Fragment is fatal', 'Close-Session', bitsAck(416), 'fatal'],
    ['401 is a challenge', 'Ping', answer(401, { 'WWW-Authenticate': 'Basic realm="x"' }), 'challenge'],
  ])('%s', (_label, packetType, http, kind) => {
    expect(interpretAnswer(packetType, http, 100).kind).toBe(kind);
  });

  test('passes a numeric Retry-After on', () => {
    expect(interpretAnswer('Fragment', answer(429, { 'Retry-After': '2' }))).toMatchObject({
      kind: 'transient',
      retryAfterMs: 2000,
    });
  });

  test('a 200 that is not a BITS Ack is a protocol error (a front answered)', () => {
    const verdict = interpretAnswer('Ping', answer(200, { 'Content-Type': 'text/html' }));
    expect(verdict.kind === 'fatal' && verdict.error.message).toMatch(/not a BITS Ack/);
  });

  test('a 405 without BITS headers points at the front', () => {
    const verdict = interpretAnswer('Create-Session', answer(405));
    expect(verdict.kind === 'fatal' && verdict.error.message).toMatch(
      /front may not pass the BITS_POST method/,
    );
  });

  test('names the server code, or the BG_E_HTTP_ERROR code Windows would show', () => {
    expect(refusalDetails('Fragment', bitsError(500, '0x80200020'))).toMatchObject({
      hresult: 0x80200020,
      hresultName: 'BG_E_TOO_LARGE',
      hresultFrom: 'server',
      context: 5,
    });
    expect(refusalDetails('Fragment', answer(404, {}, ' {"message":"Not Found"} '))).toEqual({
      packetType: 'Fragment',
      status: 404,
      statusText: 'Status',
      hresult: 0x80190194,
      hresultName: 'BG_E_HTTP_ERROR_404',
      hresultFrom: 'http-status',
      context: undefined,
      bodyExcerpt: '{"message":"Not Found"}',
    });
    // A 0x0 code (some servers put it on 416) is no error code.
    expect(refusalDetails('Fragment', bitsError(400, '0x0')).hresultFrom).toBe('http-status');
  });

  test('the refusal message carries status, code, name and context', () => {
    const error = new ServerRefusedError(refusalDetails('Fragment', bitsError(500, '0x80200020')));
    expect(error.message).toBe(
      'server refused Fragment: 500 Status, BITS error 0x80200020 BG_E_TOO_LARGE (context 0x5: BITS server) - Declared file size above the maximum upload size (fatal for the job)',
    );
    expect(error.code).toBe('0x80200020');
  });
});

describe('errors of the server application (BITS-Error-Context 0x7)', () => {
  // W32-apperr via bits-protocol.md §5.3, every boundary of each class.
  test.each([
    [300, false],
    [302, false],
    [305, false],
    [306, true],
    [307, false],
    [308, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [407, false],
    [408, true],
    [409, true],
    [410, false],
    [413, false],
    [499, false],
    [500, true],
    [501, false],
    [502, true],
    [503, true],
    [504, true],
    [505, false],
    [599, true],
    [600, true],
    [199, true],
  ])('status %d: transient %s', (status, transient) => {
    expect(isTransientApplicationStatus(status)).toBe(transient);
  });

  test.each([
    ['500 is transient', 500, '0x801901F4', 'transient'],
    ['408 (notification timeout) is transient', 408, '0x80070112', 'transient'],
    ['409 is transient', 409, '0x80190199', 'transient'],
    ['501 is fatal', 501, '0x801901F5', 'fatal'],
    ['403 is fatal', 403, '0x80190193', 'fatal'],
    // The BITS server's own answers to these mean "authenticate", "shrink", "start over"; the
    // application's do not.
    ['401 is fatal, not a challenge', 401, '0x80190191', 'fatal'],
    ['413 is fatal, not a shrink', 413, '0x8019019D', 'fatal'],
    ['BG_E_TOO_LARGE with 500 follows the status: transient', 500, '0x80200020', 'transient'],
  ])('%s, as an ApplicationError', (_label, status, code, kind) => {
    const verdict = interpretAnswer('Fragment', bitsError(status, code, '0x7'), 100);
    expect(verdict.kind).toBe(kind);
    expect('error' in verdict && verdict.error).toBeInstanceOf(ApplicationError);
  });

  test('the message tells the application apart from the BITS server and says what happens next', () => {
    const verdict = interpretAnswer('Fragment', bitsError(503, '0x801901F7', '0x7'), 100);
    const message = 'error' in verdict ? verdict.error.message : '';
    expect(message).toMatch(
      /^the server application failed on the upload \(Fragment\): 503 Status, BITS error 0x801901F7 BG_E_HTTP_ERROR_503 \(context 0x7: server application\) - transient \(503\): the final Fragment is sent again/,
    );
    const fromServer = interpretAnswer('Fragment', bitsError(503, '0x80004005'), 100);
    expect('error' in fromServer && fromServer.error).not.toBeInstanceOf(ApplicationError);
    expect('error' in fromServer && fromServer.error.message).toMatch(/^server refused Fragment: 503/);
  });
});

test('HRESULT spellings and names', () => {
  expect(parseHex('0x8020001F')).toBe(0x8020001f);
  expect(parseHex('x8020001f')).toBe(0x8020001f);
  expect(parseHex('8020001F')).toBe(0x8020001f);
  expect(parseHex('-2145845217')).toBeUndefined();
  expect(parseHex('0x123456789')).toBeUndefined();
  expect(hresultName(0x8020001f)).toBe('BG_E_SESSION_NOT_FOUND');
  expect(hresultName(0x80070057)).toBe('E_INVALIDARG');
  expect(hresultName(0x80200022)).toBe('BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH');
  expect(hresultName(0x80190190)).toBe('BG_E_HTTP_ERROR_400');
  expect(hresultName(0x12345678)).toBeUndefined();
});

test('finds Basic among the challenges', () => {
  expect(offersBasic('Basic realm="bits"')).toBe(true);
  expect(offersBasic('Negotiate, basic realm="x"')).toBe(true);
  expect(offersBasic('Basic')).toBe(true);
  expect(offersBasic('NTLM')).toBe(false);
  expect(offersBasic('Basicish realm="x"')).toBe(false);
  expect(offersBasic(undefined)).toBe(false);
});

test('parseReceivedOffset accepts only a decimal offset within the file', () => {
  expect(parseReceivedOffset(' 42 ', 42)).toBe(42);
  expect(parseReceivedOffset('43', 42)).toBeUndefined();
  expect(parseReceivedOffset('4.2', 42)).toBeUndefined();
});
