import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FixtureMessage {
  /** Request line or status line. */
  readonly startLine: string;
  /** Headers in order, names as captured. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The captured bytes (start line + headers + blank line). */
  readonly raw: Buffer;
}

export interface FixtureExchange {
  readonly name: string;
  readonly request: FixtureMessage;
  readonly response: FixtureMessage;
}

const FIXTURES = join(__dirname, '..', 'fixtures');

function parseMessage(raw: Buffer): FixtureMessage {
  const [startLine = '', ...lines] = raw.toString('latin1').split('\r\n');
  const headers = lines
    .filter((line) => line !== '')
    .map((line): readonly [string, string] => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
  return { startLine, headers, raw };
}

/** The exchanges of one capture (`rx-1`, `rx-2`) in order. */
export function loadCapture(capture: string): FixtureExchange[] {
  const dir = join(FIXTURES, capture);
  const names = readdirSync(dir)
    .filter((file) => file.endsWith('.request.http'))
    .map((file) => file.replace('.request.http', ''))
    .sort();
  return names.map((name) => ({
    name,
    request: parseMessage(readFileSync(join(dir, `${name}.request.http`))),
    response: parseMessage(readFileSync(join(dir, `${name}.response.http`))),
  }));
}

export const header = (message: FixtureMessage, name: string): string | undefined =>
  message.headers.find(([candidate]) => candidate.toLowerCase() === name.toLowerCase())?.[1];

/** Deterministic stand-in for a captured body of `length` bytes. */
export function fixtureBody(length: number): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash('sha256').update('rfc2119').digest();
  for (let offset = 0; offset < length; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** Status code of a captured response. */
export const statusOf = (response: FixtureMessage): number => Number(response.startLine.split(' ')[1]);

/** Method and path of a captured request line. */
export function requestLine(request: FixtureMessage): { method: string; path: string } {
  const [method = '', path = ''] = request.startLine.split(' ');
  return { method, path };
}

/** The captured session id of a capture (from its Create-Session ack). */
export const capturedSessionId = (exchanges: readonly FixtureExchange[]): string | undefined =>
  exchanges.map((exchange) => header(exchange.response, 'BITS-Session-Id')).find((id) => id !== undefined);

/** Headers that differ per run or per server. */
const PER_RUN = new Set(['date', 'server']);

/**
 * How an answer differs from the captured IIS ack: status, every captured header (session id by
 * value of the live session), and no BITS header IIS did not send except BITS-Session-Id, which we
 * always echo (§12 D8). `ignore` lists header names of features not under test.
 */
export function differencesFromCapture(
  exchange: FixtureExchange,
  answer: { readonly status: number; readonly headers: Readonly<Record<string, string>> },
  sessionId: string | undefined,
  ignore: ReadonlySet<string> = new Set(),
): string[] {
  const differences: string[] = [];
  if (answer.status !== statusOf(exchange.response)) {
    differences.push(`status ${answer.status} instead of ${statusOf(exchange.response)}`);
  }
  for (const [name, value] of exchange.response.headers) {
    const key = name.toLowerCase();
    if (PER_RUN.has(key) || ignore.has(key)) continue;
    const expected = key === 'bits-session-id' ? sessionId : value;
    if (answer.headers[key] !== expected)
      differences.push(`${name}: ${answer.headers[key]} instead of ${expected}`);
  }
  const captured = new Set(exchange.response.headers.map(([name]) => name.toLowerCase()));
  for (const name of Object.keys(answer.headers)) {
    if (name.startsWith('bits-') && name !== 'bits-session-id' && !captured.has(name)) {
      differences.push(`unexpected ${name}`);
    }
  }
  return differences;
}
