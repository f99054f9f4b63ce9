import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { parseUserTable, type UserSource } from '../../../lambda/auth/user-table';
import { sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { basicAuthorization, FakeUserSource, makeAuthBed, usersJson } from './auth-bed';

const PASSWORD = 'pw-7f3a9c-never-in-logs';
const WRONG_PASSWORD = 'wrong-9e1d44-never-in-logs';
const GOOD = basicAuthorization('alice', PASSWORD);
const BAD = basicAuthorization('alice', WRONG_PASSWORD);
const UNKNOWN = basicAuthorization('mallory', WRONG_PASSWORD);
const BODY_MARKER = Buffer.from('BODY-MARKER-3c1e-never-in-logs');

/**
 * Powertools Logger writes JSON lines through its own Console on process.stdout (warnings and
 * errors on stderr), so the streams' write is where a log line can be seen.
 */
function captureStreams(): { text: () => string; restore: () => void } {
  const written: string[] = [];
  const spies = (['stdout', 'stderr'] as const).map((stream) =>
    jest.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }),
  );
  return {
    text: () => written.join(''),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

/** Every form a secret could take in a log line: as sent, base64 (the header), JSON-escaped. */
function expectAbsent(output: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    expect(output).not.toContain(secret);
    expect(output).not.toContain(JSON.stringify(secret).slice(1, -1));
  }
}

let capture: ReturnType<typeof captureStreams>;
let usersText: string;
beforeAll(async () => {
  usersText = await usersJson({ alice: PASSWORD });
});
beforeEach(() => {
  capture = captureStreams();
});
afterEach(() => capture.restore());

async function bedWith(users: UserSource) {
  // Built inside the capture: Powertools binds its console to the streams at construction.
  const logger = new Logger({ serviceName: 'bits-upload', logLevel: 'DEBUG' });
  return makeAuthBed(
    { authMode: 'basic', authParameter: '/bits/users', maxFragmentSize: '4096' },
    { users, logger },
  );
}

describe('logs at DEBUG never hold credentials, password hashes or bodies', () => {
  it('during refused and then successful authentication and a whole upload', async () => {
    const users = new FakeUserSource(parseUserTable(usersText, 'test users'));
    const { handler } = await bedWith(users);
    const create = { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL };

    for (const authorization of [undefined, BAD, UNKNOWN, 'Basic !!!', `Bearer ${PASSWORD}`]) {
      expect((await send(handler, { headers: { ...create, Authorization: authorization } })).status).toBe(
        401,
      );
    }
    const created = await send(handler, { headers: { ...create, Authorization: GOOD } });
    const id = created.headers['bits-session-id'] ?? '';
    const body = Buffer.concat([BODY_MARKER, randomBytes(100)]);
    const withCredentials = { headers: { Authorization: GOOD } };
    expect((await sendFragment(handler, id, 0, body, body.length, withCredentials)).status).toBe(200);
    expect((await sendPacket(handler, 'Close-Session', id, withCredentials)).status).toBe(200);

    const output = capture.text();
    // The log lines exist and name the user, so the assertions below look at real output.
    expect(output).toContain('basic auth: wrong password for user alice');
    expect(output).toContain('basic auth: unknown user');
    expect(output).toContain('"principal"');
    const { salt, hash } = JSON.parse(usersText).users.alice as { salt: string; hash: string };
    expectAbsent(output, [
      PASSWORD,
      WRONG_PASSWORD,
      GOOD,
      BAD,
      UNKNOWN,
      GOOD.slice('Basic '.length),
      BAD.slice('Basic '.length),
      'mallory',
      salt,
      hash,
      BODY_MARKER.toString('utf8'),
      body.toString('base64').slice(0, 24),
    ]);
  });

  it('when the users parameter holds something unreadable', async () => {
    const broken = `{"users": {"alice": {"salt": "${PASSWORD}", "hash": "x", "N": 16384}}} trailing ${PASSWORD}`;
    const users = { load: async () => parseUserTable(broken, 'SSM parameter /bits/users') };
    const { handler } = await bedWith(users);
    const answer = await send(handler, {
      headers: { 'BITS-Packet-Type': 'Ping', Authorization: GOOD },
    });
    expect(answer.status).toBe(500);
    const output = capture.text();
    expect(output).toContain('SSM parameter /bits/users is not valid JSON');
    expectAbsent(output, [PASSWORD, GOOD, GOOD.slice('Basic '.length)]);
  });
});
