import { UsageError } from '../../../client/errors';
import { smokeUrl } from '../../../client/smoke';
import { parseDestination, resolveReplyUrl, withHostId } from '../../../client/url';

describe('parseDestination', () => {
  test('takes credentials out of the URL so they never appear in it again', () => {
    const { url, credentials } = parseDestination('https://al%40ce:p%3Ass@h.example/up/a.bin#frag');
    expect(url.href).toBe('https://h.example/up/a.bin');
    expect(credentials).toEqual({ user: 'al@ce', password: 'p:ss' });
  });

  test.each([
    ['not a URL', 'up/a.bin'],
    ['another scheme', 'ftp://h/a.bin'],
    ['a directory', 'http://h/up/'],
    ['the root', 'http://h'],
  ])('refuses %s', (_label, raw) => {
    expect(() => parseDestination(raw)).toThrow(UsageError);
  });
});

describe('withHostId', () => {
  const url = new URL('http://front.example:8080/up/a.bin?x=1');

  test.each([
    ['node1', 'http://node1:8080/up/a.bin?x=1'],
    ['node1:9090', 'http://node1:9090/up/a.bin?x=1'],
    ['10.0.0.7', 'http://10.0.0.7:8080/up/a.bin?x=1'],
    ['fe80::1', 'http://[fe80::1]:8080/up/a.bin?x=1'],
    ['[::1]:7000', 'http://[::1]:7000/up/a.bin?x=1'],
  ])('replaces the host with %j', (hostId, expected) => {
    expect(withHostId(url, hostId)?.href).toBe(expected);
  });

  test.each(['', 'a b', 'x/y', 'u@h', 'h?q'])('refuses %j', (hostId) => {
    expect(withHostId(url, hostId)).toBeUndefined();
  });
});

describe('resolveReplyUrl: BITS-Reply-URL as the Windows client follows it', () => {
  const upload = new URL('http://h:8080/vdir/file.bin?token=1');

  test.each([
    // RX-2: IIS's backslash path against the upload directory, braces percent-encoded.
    [
      'BITS-Sessions\\Replies\\{C85B4E0A-9EB9-4114-BFA4-8A43B4710091}\\responsefile.bin',
      'http://h:8080/vdir/BITS-Sessions/Replies/%7BC85B4E0A-9EB9-4114-BFA4-8A43B4710091%7D/responsefile.bin',
    ],
    [
      'BITS-Sessions/Replies/{A}/responsefile.bin',
      'http://h:8080/vdir/BITS-Sessions/Replies/%7BA%7D/responsefile.bin',
    ],
    ['/replies/r.bin', 'http://h:8080/replies/r.bin'],
    ['  r.bin  ', 'http://h:8080/vdir/r.bin'],
    ['https://static.example/r?id=1', 'https://static.example/r?id=1'],
    ['http://user:pw@static.example/r#part', 'http://static.example/r'],
  ])('%j → %s', (value, expected) => {
    expect(resolveReplyUrl(upload, value)).toBe(expected);
  });

  test.each(['', '  ', 'file:///etc/passwd', 'ftp://h/r', 'C:\\replies\\r.bin', 'http://[bad'])(
    'refuses %j',
    (value) => {
      expect(resolveReplyUrl(upload, value)).toBeUndefined();
    },
  );
});

test('puts the smoke file under the given path, with or without a trailing slash', () => {
  expect(smokeUrl('http://h/up', 'a b.txt').href).toBe('http://h/up/a%20b.txt');
  expect(smokeUrl('http://h/up/', 'a.txt').href).toBe('http://h/up/a.txt');
  expect(smokeUrl('http://h', 'a.txt').href).toBe('http://h/a.txt');
  expect(() => smokeUrl('nope', 'a.txt')).toThrow(UsageError);
});
