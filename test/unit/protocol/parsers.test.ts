import fc from 'fast-check';
import { parseContentRange } from '../../../lambda/protocol/content-range';
import { toObjectKey } from '../../../lambda/protocol/destination';
import { BitsError, formatHresult } from '../../../lambda/protocol/errors';
import { parsePacketType } from '../../../lambda/protocol/packet-types';
import {
  formatSessionId,
  newSessionId,
  parseSessionId,
  readSessionId,
} from '../../../lambda/protocol/session-id';
import { BITS_UPLOAD_PROTOCOL, negotiateProtocol } from '../../../lambda/protocol/supported-protocols';

const invalid = (fn: () => unknown) => expect(fn).toThrow(BitsError);

describe('parseContentRange', () => {
  it('parses `bytes first-last/total`, with the unit in any case', () => {
    expect(parseContentRange('bytes 0-4891/4892')).toEqual({ first: 0, last: 4891, total: 4892 });
    expect(parseContentRange('Bytes 5-9/10')).toEqual({ first: 5, last: 9, total: 10 });
  });

  it.each([
    'bytes abc',
    'bytes 10-5/300',
    'bytes 0-300/300',
    'bytes -1-5/10',
    'bytes +1-5/10',
    'bytes 1 -5/10',
    'bytes=0-9/10',
    'bytes */10',
    'bytes 0-9/*',
    'bytes 0-9/10/10',
    'items 0-9/10',
    'bytes 0-9/99999999999999999',
    '',
  ])('refuses %j', (value) => invalid(() => parseContentRange(value)));

  it('refuses a missing header', () => invalid(() => parseContentRange(undefined)));

  it('round-trips every valid range and refuses ends at or past the total', () => {
    fc.assert(
      fc.property(fc.nat(2 ** 40), fc.nat(2 ** 40), fc.nat(2 ** 40), (a, b, c) => {
        const [first, last, total] = [Math.min(a, b), Math.max(a, b), c];
        const header = `bytes ${first}-${last}/${total}`;
        if (last < total) expect(parseContentRange(header)).toEqual({ first, last, total });
        else invalid(() => parseContentRange(header));
      }),
    );
  });
});

describe('session ids', () => {
  it('generates braced upper-case version-4 GUIDs that parse back unchanged', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSessionId));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(id).toMatch(/^\{[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}\}$/);
      expect(parseSessionId(id)).toBe(id);
    }
  });

  it('parses case-insensitively into the canonical form', () => {
    expect(parseSessionId('{a0ff5911-4144-45b3-bf27-27afc8ec8a67}')).toBe(
      '{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}',
    );
    expect(formatSessionId('a0ff5911-4144-45b3-bf27-27afc8ec8a67')).toBe(
      '{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}',
    );
  });

  it.each([
    '',
    'A0FF5911-4144-45B3-BF27-27AFC8EC8A67',
    '{A0FF5911}',
    '{../../x}',
    '{G0FF5911-4144-45B3-BF27-27AFC8EC8A67}',
  ])('refuses %j', (value) => {
    invalid(() => parseSessionId(value));
    expect(readSessionId(value)).toBeUndefined();
  });

  it('refuses a missing id', () => invalid(() => parseSessionId(undefined)));
});

describe('negotiateProtocol', () => {
  it.each([
    BITS_UPLOAD_PROTOCOL,
    BITS_UPLOAD_PROTOCOL.toUpperCase(),
    '7df0354d-249b-430f-820d-3d2a9bef4931',
    `{11111111-1111-1111-1111-111111111111} ${BITS_UPLOAD_PROTOCOL}`,
    `{11111111-1111-1111-1111-111111111111},${BITS_UPLOAD_PROTOCOL}`,
    ` , ${BITS_UPLOAD_PROTOCOL} ,`,
  ])('picks BITS 1.5 from %j', (value) => expect(negotiateProtocol(value)).toBe(BITS_UPLOAD_PROTOCOL));

  it('refuses missing, unknown-only and over-long lists', () => {
    invalid(() => negotiateProtocol(undefined));
    invalid(() => negotiateProtocol('{11111111-1111-1111-1111-111111111111}'));
    invalid(() =>
      negotiateProtocol(`${'{11111111-1111-1111-1111-111111111111} '.repeat(100)}${BITS_UPLOAD_PROTOCOL}`),
    );
  });
});

describe('parsePacketType', () => {
  it('normalises case and whitespace', () =>
    expect(parsePacketType(' Close-SESSION ')).toBe('close-session'));
  it.each([undefined, '', 'Ack', 'toString', '__proto__'])('refuses %j', (value) =>
    invalid(() => parsePacketType(value)),
  );
});

describe('toObjectKey', () => {
  it('maps the decoded path under the prefix', () => {
    expect(toObjectKey('/upload/2000mb-rfc2119.txt', 'uploads/')).toBe('uploads/upload/2000mb-rfc2119.txt');
    expect(toObjectKey('/dir/na%C3%AFve%20file.txt', 'p/')).toBe('p/dir/naïve file.txt');
    expect(toObjectKey('/e%CC%81.txt', 'p/')).toBe('p/\u00e9.txt');
  });

  it.each([
    ['a directory', '/up/'],
    ['the root', '/'],
    ['a dot-dot segment', '/a/../b'],
    ['an encoded dot-dot', '/%2e%2e/b'],
    ['an encoded slash hiding dot-dot', '/a%2F..%2Fb'],
    ['a dot segment', '/a/./b'],
    ['an empty segment', '/a//b'],
    ['a backslash', '/a\\b'],
    ['an encoded backslash', '/a%5Cb'],
    ['a NUL', '/a%00b'],
    ['a C1 control', '/a%C2%85b'],
    ['bad percent-encoding', '/a%ZZ'],
    ['invalid UTF-8', '/a%C3'],
    ['a relative path', 'a/b'],
    ['a key over 1024 bytes', `/${'é'.repeat(600)}`],
  ])('refuses %s', (_, path) => invalid(() => toObjectKey(path, 'uploads/')));

  it('keeps every key it accepts under the prefix, without dot segments, within 1024 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (raw) => {
        let key: string | undefined;
        try {
          key = toObjectKey(`/${raw}`, 'uploads/');
        } catch (error) {
          expect(error).toBeInstanceOf(BitsError);
          return;
        }
        expect(key.startsWith('uploads/')).toBe(true);
        expect(key.split('/').some((segment) => segment === '..' || segment === '.' || segment === '')).toBe(
          false,
        );
        expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatHresult', () => {
  it('writes 0x and eight upper-case hex digits (D1)', () => {
    expect(formatHresult(0x8020001f)).toBe('0x8020001F');
    expect(formatHresult(0x5)).toBe('0x00000005');
  });
});
