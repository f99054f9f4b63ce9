import crypto, { createHash, randomBytes } from 'node:crypto';
import { basicChallenge } from '../../../lambda/auth/basic';
import type { UserTable } from '../../../lambda/auth/user-table';
import { StoreUnavailableError } from '../../../lambda/ports/errors';
import { sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { type AuthBed, basicAuthorization, FakeUserSource, makeAuthBed } from './auth-bed';

const BASIC = { authMode: 'basic', authParameter: '/bits/users' } as const;
const CHALLENGE = 'Basic realm="BITS upload", charset="UTF-8"';
const ALICE = { user: 'alice', password: 'correct horse battery staple' };
const createHeaders = { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL };

let users: FakeUserSource;
let auth: AuthBed;
beforeEach(async () => {
  users = await FakeUserSource.of({ [ALICE.user]: ALICE.password, bob: 'hunter2' });
  auth = makeAuthBed(BASIC, { users });
});
afterEach(() => jest.restoreAllMocks());

const createAs = (authorization: string | undefined) =>
  send(auth.handler, { headers: { ...createHeaders, Authorization: authorization } });

/** What every refusal must look like: the challenge, an Ack, an empty body, no BITS error headers. */
function expectChallenge(answer: {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: string;
}) {
  expect(answer.status).toBe(401);
  expect(answer.headers).toEqual({
    'www-authenticate': CHALLENGE,
    'bits-packet-type': 'Ack',
    'content-length': '0',
    pragma: 'no-cache',
  });
  expect(answer.body).toBe('');
}

describe('HTTP Basic (BITS_AUTH_MODE=basic)', () => {
  it('challenges a request without credentials with 401 and WWW-Authenticate: Basic', async () => {
    expectChallenge(await createAs(undefined));
    expect(auth.bed.uploads.uploads.size).toBe(0);
  });

  it('challenges every packet type, Ping included, before looking at the packet', async () => {
    const id = '{00000000-0000-4000-8000-000000000000}';
    for (const packetType of [
      'Ping',
      'Create-Session',
      'Fragment',
      'Close-Session',
      'Cancel-Session',
      'Bogus',
    ]) {
      const answer = await sendPacket(auth.handler, packetType, id);
      const { 'bits-session-id': echoed, ...headers } = answer.headers;
      // The id is echoed as on every answer (§12 D8), whether or not it exists: no oracle.
      expect(echoed).toBe(id);
      expectChallenge({ ...answer, headers });
    }
  });

  it('refuses a wrong password with the same 401', async () => {
    expectChallenge(await createAs(basicAuthorization(ALICE.user, 'Correct horse battery staple')));
  });

  it('refuses an unknown user with the same 401', async () => {
    expectChallenge(await createAs(basicAuthorization('mallory', ALICE.password)));
  });

  it("refuses another user's password", async () => {
    expectChallenge(await createAs(basicAuthorization('bob', ALICE.password)));
  });

  it.each([
    ['another scheme', `Bearer ${randomBytes(16).toString('hex')}`],
    ['no colon', `Basic ${Buffer.from('alice').toString('base64')}`],
    ['not base64', 'Basic !!!'],
    ['an empty token', 'Basic '],
    ['two headers joined', `${basicAuthorization(ALICE.user, ALICE.password)}, Basic Zm9vOmJhcg==`],
    ['a token above 4 KB', `Basic ${Buffer.from(`alice:${'x'.repeat(4000)}`).toString('base64')}`],
  ])('refuses malformed credentials: %s', async (_name, authorization) => {
    expectChallenge(await createAs(authorization));
  });

  it('lets the right credentials through, with the user as the principal, for a whole upload', async () => {
    const authorization = basicAuthorization(ALICE.user, ALICE.password);
    const withCredentials = { headers: { Authorization: authorization } };
    const file = randomBytes(10_000);

    const created = await createAs(authorization);
    expect(created.status).toBe(200);
    const id = created.headers['bits-session-id'] ?? '';
    for (const [first, last] of [
      [0, 4096],
      [4096, 10_000],
    ] as const) {
      const answer = await sendFragment(
        auth.handler,
        id,
        first,
        file.subarray(first, last),
        file.length,
        withCredentials,
      );
      expect(answer.status).toBe(200);
    }
    expect((await sendPacket(auth.handler, 'Close-Session', id, withCredentials)).status).toBe(200);

    const stored = auth.bed.uploads.objects.get('uploads/up/a.bin');
    expect(
      createHash('sha256')
        .update(stored?.body ?? Buffer.alloc(0))
        .digest('hex'),
    ).toBe(createHash('sha256').update(file).digest('hex'));
    expect(stored?.metadata['bits-owner']).toBe('alice');
  });

  it('accepts the scheme name in any case and credentials with a colon in the password', async () => {
    await users.replace({ carol: 'pass:word:' });
    const token = Buffer.from('carol:pass:word:').toString('base64');
    expect((await createAs(`bAsIc ${token}`)).status).toBe(200);
  });

  it('accepts UTF-8 credentials, and ISO-8859-1 from a client that ignores charset', async () => {
    await users.replace({ zoë: 'pässwörd' });
    const utf8 = Buffer.from('zoë:pässwörd', 'utf8').toString('base64');
    const latin1 = Buffer.from('zoë:pässwörd', 'latin1').toString('base64');
    expect((await createAs(`Basic ${utf8}`)).status).toBe(200);
    expect((await createAs(`Basic ${latin1}`)).status).toBe(200);
  });

  it('sends the configured realm', async () => {
    auth = makeAuthBed({ ...BASIC, authRealm: 'Contoso uploads' }, { users });
    expect((await createAs(undefined)).headers['www-authenticate']).toBe(
      'Basic realm="Contoso uploads", charset="UTF-8"',
    );
    expect(basicChallenge('x')).toBe('Basic realm="x", charset="UTF-8"');
  });
});

describe('timing', () => {
  it('compares with crypto.timingSafeEqual on equal-length buffers, for a known user with a wrong password', async () => {
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    await createAs(basicAuthorization(ALICE.user, 'wrong'));
    expect(compare).toHaveBeenCalledTimes(1);
    const [derived, stored] = compare.mock.calls[0] ?? [];
    expect((derived as Buffer).length).toBe((stored as Buffer).length);
  });

  it('derives and compares a hash for an unknown user too, with the same cost as a real user', async () => {
    const scrypt = jest.spyOn(crypto, 'scrypt');
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    await createAs(basicAuthorization('nobody', 'wrong'));
    await createAs(basicAuthorization(ALICE.user, 'wrong'));
    expect(compare).toHaveBeenCalledTimes(2);
    expect(scrypt).toHaveBeenCalledTimes(2);
    const costOf = (call: number) => scrypt.mock.calls[call]?.[3];
    expect(costOf(0)).toEqual(costOf(1));
  });

  it('checks a correct password in constant time as well', async () => {
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    await createAs(basicAuthorization(ALICE.user, ALICE.password));
    expect(compare).toHaveBeenCalledTimes(1);
    expect(compare.mock.results[0]?.value).toBe(true);
  });
});

describe('remembered checks', () => {
  it('runs scrypt once for a client that sends the same credentials on every packet', async () => {
    const scrypt = jest.spyOn(crypto, 'scrypt');
    const authorization = basicAuthorization(ALICE.user, ALICE.password);
    for (let request = 0; request < 3; request += 1) expect((await createAs(authorization)).status).toBe(200);
    expect(scrypt).toHaveBeenCalledTimes(1);
  });

  it('never remembers a failure', async () => {
    const scrypt = jest.spyOn(crypto, 'scrypt');
    for (let request = 0; request < 3; request += 1) await createAs(basicAuthorization(ALICE.user, 'wrong'));
    expect(scrypt).toHaveBeenCalledTimes(3);
  });

  it('forgets a check once the cache period is over', async () => {
    const scrypt = jest.spyOn(crypto, 'scrypt');
    const authorization = basicAuthorization(ALICE.user, ALICE.password);
    await createAs(authorization);
    auth.bed.clock.advance(61);
    await createAs(authorization);
    expect(scrypt).toHaveBeenCalledTimes(2);
  });

  it('refuses the old password as soon as the user record changes', async () => {
    const old = basicAuthorization(ALICE.user, ALICE.password);
    expect((await createAs(old)).status).toBe(200);
    await users.replace({ [ALICE.user]: 'a new password' });
    expectChallenge(await createAs(old));
    expect((await createAs(basicAuthorization(ALICE.user, 'a new password'))).status).toBe(200);
  });

  it('checks every request when the cache period is 0', async () => {
    auth = makeAuthBed({ ...BASIC, authCacheSeconds: '0' }, { users });
    const scrypt = jest.spyOn(crypto, 'scrypt');
    const authorization = basicAuthorization(ALICE.user, ALICE.password);
    await createAs(authorization);
    await createAs(authorization);
    expect(scrypt).toHaveBeenCalledTimes(2);
  });
});

describe('when the users cannot be read', () => {
  const failing = (error: Error) => ({
    load: async (): Promise<UserTable> => {
      throw error;
    },
  });

  it('answers 503 (transient, the client retries) when SSM throttles', async () => {
    auth = makeAuthBed(BASIC, {
      users: failing(new StoreUnavailableError('SSM parameter: ThrottlingException')),
    });
    const answer = await createAs(basicAuthorization(ALICE.user, ALICE.password));
    expect(answer.status).toBe(503);
    expect(answer.headers['bits-error-code']).toBe('0x80004005');
  });

  it('answers 500 when the parameter is missing or unreadable (a deployment fault)', async () => {
    auth = makeAuthBed(BASIC, { users: failing(new Error('SSM parameter /bits/users could not be read')) });
    const answer = await createAs(basicAuthorization(ALICE.user, ALICE.password));
    expect(answer.status).toBe(500);
    expect(answer.headers['www-authenticate']).toBeUndefined();
  });

  it('still challenges a request without credentials without reading the users', async () => {
    const source = await FakeUserSource.of({});
    auth = makeAuthBed(BASIC, { users: source });
    expectChallenge(await createAs(undefined));
    expect(source.loads).toBe(0);
  });
});
