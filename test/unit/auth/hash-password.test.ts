import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePasswordRecord, verifyPassword } from '../../../lambda/auth/password-hash';
import { parseUserTable } from '../../../lambda/auth/user-table';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SCRIPT = path.join('lambda', 'auth', 'hash-password.ts');

/** `npm run -s hash-password -- <args>` without npm: tsx on the script, password on stdin. */
function hashPasswordCli(args: readonly string[], stdin: string) {
  const result = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [SCRIPT, ...args], {
    cwd: ROOT,
    input: stdin,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm run hash-password', () => {
  it('is the package script', () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts;
    expect(scripts['hash-password']).toBe(`tsx ${SCRIPT.split(path.sep).join('/')}`);
  });

  it('prints an entry for the users parameter that verifies the piped password', async () => {
    const { status, stdout } = hashPasswordCli(['alice'], 'correct horse\n');
    expect(status).toBe(0);
    const entry = JSON.parse(stdout) as Record<string, unknown>;
    expect(Object.keys(entry)).toEqual(['alice']);
    expect(entry.alice).toMatchObject({ N: 16_384, r: 8, p: 1 });
    expect(stdout).not.toContain('correct horse');

    // The entry goes under "users" as it is, and the password (without the line break) matches.
    const table = parseUserTable(JSON.stringify({ users: entry }), 'test');
    const record = table.users.get('alice');
    expect(record).toBeDefined();
    await expect(verifyPassword(parsePasswordRecord(entry.alice), 'correct horse')).resolves.toBe(true);
  }, 30_000);

  it('takes a different cost', () => {
    const { status, stdout } = hashPasswordCli(['bob', '--cost', '32768'], 'pw');
    expect(status).toBe(0);
    expect(JSON.parse(stdout).bob).toMatchObject({ N: 32_768 });
  }, 30_000);

  it.each([
    ['no user', [], 'pw', /usage/],
    ['a user name with a colon', ['a:b'], 'pw', /must not contain ":"/],
    ['an empty password', ['alice'], '\n', /empty password/],
    ['a cost that is not a power of two', ['alice', '--cost', '1000'], 'pw', /power of two/],
  ])(
    'refuses %s with exit code 2',
    (_name, args, stdin, message) => {
      const { status, stdout, stderr } = hashPasswordCli(args, stdin);
      expect(status).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
    },
    30_000,
  );
});
