import fc from 'fast-check';
import { principalKeyPrefix, principalSegment, toObjectKey } from '../../../lambda/protocol/destination';
import { BitsError } from '../../../lambda/protocol/errors';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { basicAuthorization, FakeUserSource, makeAuthBed } from './auth-bed';

describe('principalSegment', () => {
  it.each([
    ['alice', 'alice'],
    ['alice.smith@example.com', 'alice.smith@example.com'],
    ['DOMAIN\\alice', 'DOMAIN%5Calice'],
    ['arn:aws:iam::1:user/u', 'arn%3Aaws%3Aiam%3A%3A1%3Auser%2Fu'],
    ['CN=dev 7,O=Contoso', 'CN=dev%207,O=Contoso'],
    ['..', '%2E%2E'],
    ['.', '%2E'],
    ['a/../b', 'a%2F..%2Fb'],
    ['100%', '100%25'],
    ['zoë', 'zo%C3%AB'],
    ['tab\there', 'tab%09here'],
  ])('keeps %p as the single key segment %p', (principal, segment) => {
    expect(principalSegment(principal)).toBe(segment);
  });

  it('refuses an empty principal and one with a lone surrogate (it would not encode one-to-one)', () => {
    expect(() => principalSegment('')).toThrow(BitsError);
    expect(() => principalSegment('a\ud800')).toThrow(BitsError);
  });

  it('is always one safe segment: no slash, no dot segment, no control character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (principal) => {
        const segment = principalSegment(principal);
        expect(segment).toMatch(/^[A-Za-z0-9._@+=,%-]+$/);
        expect(segment).not.toMatch(/^\.+$/);
      }),
    );
  });

  it('never puts two principals in one folder (the encoding is one-to-one)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
        (a, b) => {
          fc.pre(a !== b);
          expect(principalSegment(a)).not.toBe(principalSegment(b));
        },
      ),
    );
    // The cases a careless encoding would merge.
    const tricky = ['.', '%2E', '..', '%2E%2E', 'a/b', 'a%2Fb', 'a:b', 'é', 'e\u0301'];
    expect(new Set(tricky.map(principalSegment)).size).toBe(tricky.length);
  });

  it('builds keys under <keyPrefix><principal>/ that the path checks still guard', () => {
    expect(toObjectKey('/reports/q1.pdf', principalKeyPrefix('uploads/', 'DOMAIN\\alice'))).toBe(
      'uploads/DOMAIN%5Calice/reports/q1.pdf',
    );
    expect(() => toObjectKey('/../bob/x', principalKeyPrefix('uploads/', 'alice'))).toThrow(BitsError);
  });
});

describe('BITS_PRINCIPAL_PREFIX', () => {
  const createFor = (handler: ReturnType<typeof makeAuthBed>['handler'], user: string, path: string) =>
    send(handler, {
      path,
      headers: {
        Authorization: basicAuthorization(user, `${user}-secret`),
        'BITS-Packet-Type': 'Create-Session',
        'BITS-Supported-Protocols': BITS_PROTOCOL,
      },
    });

  async function bedWith(principalPrefix: string) {
    const users = await FakeUserSource.of({ alice: 'alice-secret', bob: 'bob-secret', '..': '..-secret' });
    return makeAuthBed({ authMode: 'basic', authParameter: '/bits/users', principalPrefix }, { users });
  }

  it("puts each user's upload of the same path under their own folder", async () => {
    const { bed, handler } = await bedWith('true');
    const alice = await createFor(handler, 'alice', '/shared/report.pdf');
    const bob = await createFor(handler, 'bob', '/shared/report.pdf');
    expect([alice.status, bob.status]).toEqual([200, 200]);

    const keys = await Promise.all(
      [alice, bob].map(
        async (answer) => (await bed.sessions.getSession(answer.headers['bits-session-id'] ?? ''))?.key,
      ),
    );
    expect(keys).toEqual(['uploads/alice/shared/report.pdf', 'uploads/bob/shared/report.pdf']);
  });

  it('keeps a user called ".." inside its own folder', async () => {
    const { bed, handler } = await bedWith('true');
    const answer = await createFor(handler, '..', '/x.bin');
    expect((await bed.sessions.getSession(answer.headers['bits-session-id'] ?? ''))?.key).toBe(
      'uploads/%2E%2E/x.bin',
    );
  });

  it("stops a user from overwriting another user's finished file", async () => {
    const { bed, handler } = await bedWith('true');
    await bed.uploads.putObject(
      'uploads/alice/shared/report.pdf',
      Buffer.from('alice'),
      {},
      { overwrite: true },
    );
    expect((await createFor(handler, 'bob', '/shared/report.pdf')).status).toBe(200);
    expect((await createFor(handler, 'alice', '/shared/report.pdf')).status).toBe(403);
  });

  it('is off by default: both users name the same key', async () => {
    const { bed, handler } = await bedWith('false');
    await bed.uploads.putObject('uploads/shared/report.pdf', Buffer.from('alice'), {}, { overwrite: true });
    expect((await createFor(handler, 'bob', '/shared/report.pdf')).status).toBe(403);
  });
});
