/**
 * `npm run -s hash-password -- <user> [--cost N]`: prints one user's entry for the Basic users
 * parameter, `{"<user>": {"salt": …, "hash": …, "N": …, "r": …, "p": …}}`, to merge under
 * `"users"` (README "Security"). The password comes from stdin when it is piped (one line), or
 * from a prompt that does not echo. An admin tool: lambda/index.ts never imports it, so it is not
 * in the function bundle.
 */
import { DEFAULT_SCRYPT, hashPassword, PasswordRecordError, userNameProblem } from './password-hash';

const USAGE = 'usage: npm run -s hash-password -- <user> [--cost N]   (password from stdin or a prompt)';

class UsageError extends Error {}

function parseArguments(argv: readonly string[]): { user: string; N: number } {
  const rest = [...argv];
  let N: number = DEFAULT_SCRYPT.N;
  const costAt = rest.indexOf('--cost');
  if (costAt >= 0) {
    N = Number(rest[costAt + 1]);
    rest.splice(costAt, 2);
  }
  const [user, ...extra] = rest;
  if (user === undefined || extra.length > 0 || user.startsWith('--')) throw new UsageError(USAGE);
  const normalised = user.normalize('NFC');
  const problem = userNameProblem(normalised);
  if (problem !== undefined) throw new UsageError(`user name ${problem}`);
  return { user: normalised, N };
}

/** Everything piped in, minus one trailing line break. */
async function readPiped(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Reads one line from the terminal without echoing it. */
function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(question);
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    let answer = '';
    const done = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      process.stderr.write('\n');
      if (error === undefined) resolve(answer);
      else reject(error);
    };
    const onData = (data: string) => {
      for (const char of data) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(new UsageError('cancelled'));
        if (char === '\u007f' || char === '\b') answer = [...answer].slice(0, -1).join('');
        else answer += char;
      }
    };
    input.on('data', onData);
  });
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readPiped();
  const first = await prompt('Password: ');
  const second = await prompt('Again: ');
  if (first !== second) throw new UsageError('the passwords differ');
  return first;
}

async function main(): Promise<void> {
  const { user, N } = parseArguments(process.argv.slice(2));
  const password = await readPassword();
  if (password === '') throw new UsageError('empty password');
  const record = await hashPassword(password, { ...DEFAULT_SCRYPT, N });
  process.stdout.write(`${JSON.stringify({ [user]: record })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`hash-password: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(error instanceof UsageError || error instanceof PasswordRecordError ? 2 : 1);
});
