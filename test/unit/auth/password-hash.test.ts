import {
  DEFAULT_SCRYPT,
  decoyRecord,
  hashPassword,
  PasswordRecordError,
  parsePasswordRecord,
  userNameProblem,
  verifyPassword,
} from '../../../lambda/auth/password-hash';
import { parseUserTable, UserTableError } from '../../../lambda/auth/user-table';
import { FAST_SCRYPT } from './auth-bed';

describe('hashPassword / verifyPassword', () => {
  it('stores a 16-byte salt, a 32-byte hash and the RFC 7914 interactive cost by default', async () => {
    const record = await hashPassword('s3cret');
    expect(record).toMatchObject({ N: 16_384, r: 8, p: 1 });
    expect(Buffer.from(record.salt, 'base64')).toHaveLength(16);
    expect(Buffer.from(record.hash, 'base64')).toHaveLength(32);
    expect(DEFAULT_SCRYPT).toEqual({ N: 16_384, r: 8, p: 1 });
  });

  it('verifies the password it hashed and nothing else', async () => {
    const record = parsePasswordRecord(await hashPassword('s3cret', FAST_SCRYPT));
    await expect(verifyPassword(record, 's3cret')).resolves.toBe(true);
    await expect(verifyPassword(record, 's3cret ')).resolves.toBe(false);
    await expect(verifyPassword(record, 'S3cret')).resolves.toBe(false);
    await expect(verifyPassword(record, '')).resolves.toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([hashPassword('same', FAST_SCRYPT), hashPassword('same', FAST_SCRYPT)]);
    expect(a.salt).not.toBe(b.salt);
    expect(a.hash).not.toBe(b.hash);
  });

  it('compares passwords in Unicode normal form C', async () => {
    const record = parsePasswordRecord(await hashPassword('caf\u00e9', FAST_SCRYPT));
    await expect(verifyPassword(record, 'cafe\u0301')).resolves.toBe(true);
  });

  it('verifies with the cost stored in the record, so older records keep working', async () => {
    const cheap = parsePasswordRecord(await hashPassword('pw', { N: 2048, r: 4, p: 2 }));
    expect(cheap).toMatchObject({ N: 2048, r: 4, p: 2 });
    await expect(verifyPassword(cheap, 'pw')).resolves.toBe(true);
  });

  it('never matches the decoy record, which has the cost it was given', async () => {
    const decoy = decoyRecord(FAST_SCRYPT);
    expect(decoy).toMatchObject(FAST_SCRYPT);
    await expect(verifyPassword(decoy, '')).resolves.toBe(false);
  });
});

describe('parsePasswordRecord', () => {
  const valid = {
    salt: Buffer.alloc(16, 1).toString('base64'),
    hash: Buffer.alloc(32, 2).toString('base64'),
    N: 16_384,
  };

  it('defaults r and p to 8 and 1', () => {
    expect(parsePasswordRecord(valid)).toMatchObject({ N: 16_384, r: 8, p: 1 });
  });

  it.each([
    ['N not a power of two', { ...valid, N: 10_000 }],
    ['N below 1024', { ...valid, N: 512 }],
    ['N above 2^20', { ...valid, N: 2 ** 21 }],
    ['more than 256 MiB of memory', { ...valid, N: 2 ** 20, r: 4 }],
    ['p of 0', { ...valid, p: 0 }],
    ['N as a string', { ...valid, N: '16384' }],
    ['a salt that is not base64', { ...valid, salt: 'not base64!' }],
    ['a short salt', { ...valid, salt: Buffer.alloc(8).toString('base64') }],
    ['a short hash', { ...valid, hash: Buffer.alloc(8).toString('base64') }],
    ['no hash', { salt: valid.salt, N: 16_384 }],
    ['an array', [valid]],
  ])('refuses %s', (_name, value) => {
    expect(() => parsePasswordRecord(value)).toThrow(PasswordRecordError);
  });
});

describe('userNameProblem', () => {
  it.each(['alice', 'DOMAIN\\alice', 'alice@example.com', 'zoë'])('accepts %p', (name) => {
    expect(userNameProblem(name)).toBeUndefined();
  });

  it.each(['', 'a:b', 'tab\there', 'x'.repeat(257), 'e\u0301'])('refuses %p', (name) => {
    expect(userNameProblem(name)).toBeDefined();
  });
});

describe('parseUserTable', () => {
  it('reads users into a map and keeps odd names as plain names', async () => {
    const record = JSON.stringify(await hashPassword('pw', FAST_SCRYPT));
    // Written as text: in an object literal `__proto__` would set the prototype, not a key.
    const text = `{"users": {"alice": ${record}, "__proto__": ${record}, "constructor": ${record}}}`;
    const table = parseUserTable(text, 'p');
    expect([...table.users.keys()].sort()).toEqual(['__proto__', 'alice', 'constructor']);
    expect(table.decoy).toMatchObject(FAST_SCRYPT);
  });

  it('accepts an empty user list (everyone gets 401)', () => {
    expect(parseUserTable('{"users": {}}', 'p').users.size).toBe(0);
  });

  it.each([
    ['text that is not JSON', 'users: alice=SECRET-VALUE'],
    ['no users object', '{"alice": {}}'],
    ['users as an array', '{"users": []}'],
    ['a name with a colon', '{"users": {"a:b": {}}}'],
    [
      'a bad record',
      `{"users": {"alice": {"salt": "SECRET-VALUE", "hash": "${Buffer.alloc(32).toString('base64')}", "N": 16384}}}`,
    ],
  ])('refuses %s without quoting the content', (_name, text) => {
    let error: unknown;
    try {
      parseUserTable(text, 'SSM parameter /bits/users');
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(UserTableError);
    expect((error as Error).message).toMatch(/^SSM parameter \/bits\/users/);
    expect((error as Error).message).not.toContain('SECRET-VALUE');
    expect((error as Error).cause).toBeUndefined();
  });
});
