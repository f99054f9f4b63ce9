import {
  DEFAULT_SCRYPT,
  decoyRecord,
  type PasswordRecord,
  parsePasswordRecord,
  userNameProblem,
} from './password-hash';

/** The users Basic authentication accepts, as read from the SSM parameter. */
export interface UserTable {
  /** A Map, so that a user called `__proto__` or `constructor` is just a name. */
  readonly users: ReadonlyMap<string, PasswordRecord>;
  /** Checked instead when the user is unknown; same cost as the first user's record. */
  readonly decoy: PasswordRecord;
}

/** Where Basic authentication gets its users; an implementation may cache. */
export interface UserSource {
  load(): Promise<UserTable>;
}

/**
 * The parameter's content is wrong. Messages name the parameter, user and field, never a value:
 * they are logged, and JSON.parse's own message would quote the content.
 */
export class UserTableError extends Error {
  override name = 'UserTableError';
}

/**
 * Parses `{"users": {"alice": {"salt": "…", "hash": "…", "N": 16384, "r": 8, "p": 1}}}`
 * (`npm run hash-password` prints the inner entries). Unknown fields are ignored.
 */
export function parseUserTable(text: string, source: string): UserTable {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new UserTableError(`${source} is not valid JSON`);
  }
  const users = (document as { users?: unknown } | null)?.users;
  if (typeof users !== 'object' || users === null || Array.isArray(users)) {
    throw new UserTableError(`${source} must be {"users": {"<name>": {...}}}`);
  }
  const table = new Map<string, PasswordRecord>();
  for (const [name, value] of Object.entries(users)) {
    const problem = userNameProblem(name);
    if (problem !== undefined) throw new UserTableError(`${source}: a user name ${problem}`);
    try {
      table.set(name, parsePasswordRecord(value));
    } catch (error) {
      throw new UserTableError(`${source}: user ${name}: ${(error as Error).message}`);
    }
  }
  const first = table.values().next();
  return { users: table, decoy: decoyRecord(first.done ? DEFAULT_SCRYPT : first.value) };
}
