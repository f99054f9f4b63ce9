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

test('resolves reply URLs as the Windows client does: IIS backslash paths against the upload directory', () => {
  const upload = new URL('http://h/vdir/file.bin');
  expect(resolveReplyUrl(upload, 'BITS-Sessions\\Replies\\{C85B}\\responsefile.bin')).toBe(
    'http://h/vdir/BITS-Sessions/Replies/%7BC85B%7D/responsefile.bin',
  );
  expect(resolveReplyUrl(upload, 'https://other/r?id=1')).toBe('https://other/r?id=1');
  expect(resolveReplyUrl(upload, '  ')).toBeUndefined();
});

test('puts the smoke file under the given path, with or without a trailing slash', () => {
  expect(smokeUrl('http://h/up', 'a b.txt').href).toBe('http://h/up/a%20b.txt');
  expect(smokeUrl('http://h/up/', 'a.txt').href).toBe('http://h/up/a.txt');
  expect(smokeUrl('http://h', 'a.txt').href).toBe('http://h/a.txt');
  expect(() => smokeUrl('nope', 'a.txt')).toThrow(UsageError);
});
