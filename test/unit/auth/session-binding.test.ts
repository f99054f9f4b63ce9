import { createHash, randomBytes } from 'node:crypto';
import { newSessionId } from '../../../lambda/protocol/session-id';
import { sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { type Answer, BITS_PROTOCOL, send } from '../../helpers/events';
import { type AuthBed, basicAuthorization, FakeUserSource, makeAuthBed } from './auth-bed';

const FILE = randomBytes(6000);
const ALICE = { headers: { Authorization: basicAuthorization('alice', 'alice-secret') } };
const MALLORY = { headers: { Authorization: basicAuthorization('mallory', 'mallory-secret') } };

let auth: AuthBed;
let sessionId: string;
beforeEach(async () => {
  const users = await FakeUserSource.of({ alice: 'alice-secret', mallory: 'mallory-secret' });
  auth = makeAuthBed({ authMode: 'basic', authParameter: '/bits/users' }, { users });
  const created = await send(auth.handler, {
    ...ALICE,
    headers: {
      ...ALICE.headers,
      'BITS-Packet-Type': 'Create-Session',
      'BITS-Supported-Protocols': BITS_PROTOCOL,
    },
  });
  sessionId = created.headers['bits-session-id'] ?? '';
  expect(
    (await sendFragment(auth.handler, sessionId, 0, FILE.subarray(0, 1000), FILE.length, ALICE)).status,
  ).toBe(200);
});

/** The answer without the echoed session id, which names what the client sent. */
const withoutSessionId = (answer: Answer) => {
  const { 'bits-session-id': _id, ...headers } = answer.headers;
  return { status: answer.status, headers, body: answer.body };
};

const PACKETS: readonly [string, (id: string) => Promise<Answer>][] = [
  ['Fragment', (id) => sendFragment(auth.handler, id, 1000, FILE.subarray(1000, 2000), FILE.length, MALLORY)],
  ['Close-Session', (id) => sendPacket(auth.handler, 'Close-Session', id, MALLORY)],
  ['Cancel-Session', (id) => sendPacket(auth.handler, 'Cancel-Session', id, MALLORY)],
];

describe("another principal presenting a session's id", () => {
  it.each(PACKETS)(
    '%s gets BG_E_SESSION_NOT_FOUND, exactly what an unknown id gets',
    async (_packet, sendAsMallory) => {
      const hijack = await sendAsMallory(sessionId);
      const unknown = await sendAsMallory(newSessionId());

      expect(hijack.status).toBe(500);
      expect(hijack.headers['bits-error-code']).toBe('0x8020001F');
      expect(hijack.headers['bits-error-context']).toBe('0x5');
      expect(withoutSessionId(hijack)).toEqual(withoutSessionId(unknown));
    },
  );

  it('changes nothing: the owner finishes the upload with every byte intact', async () => {
    for (const [, sendAsMallory] of PACKETS) await sendAsMallory(sessionId);

    expect(auth.bed.sessions.nextOffsetOf(sessionId)).toBe(1000);
    const rest = await sendFragment(auth.handler, sessionId, 1000, FILE.subarray(1000), FILE.length, ALICE);
    expect(rest.status).toBe(200);
    expect((await sendPacket(auth.handler, 'Close-Session', sessionId, ALICE)).status).toBe(200);
    const stored = auth.bed.uploads.objects.get('uploads/up/a.bin');
    expect(
      createHash('sha256')
        .update(stored?.body ?? Buffer.alloc(0))
        .digest('hex'),
    ).toBe(createHash('sha256').update(FILE).digest('hex'));
  });

  it('leaves the owner able to cancel its own session', async () => {
    expect((await sendPacket(auth.handler, 'Cancel-Session', sessionId, ALICE)).status).toBe(200);
  });
});
