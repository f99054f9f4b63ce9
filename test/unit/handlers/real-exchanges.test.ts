import { createHash } from 'node:crypto';
import { type Answer, send } from '../../helpers/events';
import {
  capturedSessionId,
  differencesFromCapture,
  type FixtureExchange,
  fixtureBody,
  header,
  loadCapture,
  requestLine,
} from '../../helpers/fixtures';
import { makeTestBed } from '../../helpers/test-deps';

/** RX-2 headers of features that come with BITS-Host-Id and upload-reply support. */
const LATER_FEATURES = new Set(['bits-host-id', 'bits-host-id-fallback-timeout', 'bits-reply-url']);

async function replay(capture: string, exchanges: readonly FixtureExchange[]) {
  const bed = makeTestBed({ keyPrefix: 'uploads/' });
  const captured = capturedSessionId(exchanges);
  let sessionId: string | undefined;
  const results: Array<{ exchange: FixtureExchange; answer: Answer; sessionId?: string }> = [];
  for (const exchange of exchanges) {
    const { method, path } = requestLine(exchange.request);
    const headers = Object.fromEntries(
      exchange.request.headers.map(([name, value]) => [
        name,
        value === captured && sessionId ? sessionId : value,
      ]),
    );
    const length = Number(header(exchange.request, 'Content-Length') ?? '0');
    const answer = await send(bed.handler, { method, path, headers, body: fixtureBody(length) });
    sessionId ??= answer.headers['bits-session-id'];
    results.push({ exchange, answer, ...(sessionId ? { sessionId } : {}) });
  }
  return { bed, results, capture };
}

function expectSameAck(exchange: FixtureExchange, answer: Answer, sessionId: string | undefined): void {
  expect(differencesFromCapture(exchange, answer, sessionId, LATER_FEATURES)).toEqual([]);
  expect(answer.body).toBe('');
}

describe('real Windows BITS client ↔ IIS captures replayed against the handler', () => {
  it('RX-1 (MC-BUP §4.1): every ack has the status and BITS headers IIS sent, and the file is stored', async () => {
    const exchanges = loadCapture('rx-1');
    const { bed, results } = await replay('rx-1', exchanges);
    expect(results.map((r) => r.exchange.name)).toEqual([
      '01-create-session',
      '02-fragment',
      '03-ping',
      '04-close-session',
    ]);
    for (const { exchange, answer, sessionId } of results) expectSameAck(exchange, answer, sessionId);
    const stored = bed.uploads.objects.get('uploads/upload/2000mb-rfc2119.txt');
    expect(stored && createHash('sha256').update(stored.body).digest('hex')).toBe(
      createHash('sha256').update(fixtureBody(4892)).digest('hex'),
    );
  });

  it('RX-2 (MC-BUP §4.2) up to the upload-reply part: Create-Session, Ping, Fragment and Close acks match IIS', async () => {
    const exchanges = loadCapture('rx-2').filter((exchange) => !exchange.name.includes('reply-get'));
    const { results } = await replay('rx-2', exchanges);
    for (const { exchange, answer, sessionId } of results) expectSameAck(exchange, answer, sessionId);
  });
});
