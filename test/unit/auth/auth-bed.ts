import type { Logger } from '@aws-lambda-powertools/logger';
import { type Authenticate, createAuthenticator } from '../../../lambda/auth/authenticate';
import { hashPassword, type ScryptCost } from '../../../lambda/auth/password-hash';
import { parseUserTable, type UserSource, type UserTable } from '../../../lambda/auth/user-table';
import { type BitsLambdaHandler, createHandler } from '../../../lambda/create-handler';
import { type ConfigOverrides, makeTestBed, type TestBed } from '../../helpers/test-deps';

/** The cheapest cost the parser accepts: tests check the logic, not the work factor. */
export const FAST_SCRYPT: ScryptCost = { N: 1024, r: 8, p: 1 };

/** The parameter's JSON for these users and passwords, as `npm run hash-password` builds it. */
export async function usersJson(
  passwords: Readonly<Record<string, string>>,
  cost: ScryptCost = FAST_SCRYPT,
): Promise<string> {
  const users: Record<string, unknown> = {};
  for (const [user, password] of Object.entries(passwords)) users[user] = await hashPassword(password, cost);
  return JSON.stringify({ users });
}

/** A UserSource whose content a test can replace, counting loads. */
export class FakeUserSource implements UserSource {
  loads = 0;
  constructor(private table: UserTable) {}

  static async of(passwords: Readonly<Record<string, string>>, cost?: ScryptCost): Promise<FakeUserSource> {
    return new FakeUserSource(parseUserTable(await usersJson(passwords, cost), 'test users'));
  }

  async replace(passwords: Readonly<Record<string, string>>): Promise<void> {
    this.table = parseUserTable(await usersJson(passwords), 'test users');
  }

  async load(): Promise<UserTable> {
    this.loads += 1;
    return this.table;
  }
}

export const basicAuthorization = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

export interface AuthBed {
  readonly bed: TestBed;
  /** The real handler with the authenticator of the configured mode. */
  readonly handler: BitsLambdaHandler;
  readonly authenticate: Authenticate;
}

/** makeTestBed's in-memory ports and clock, with authentication wired as lambda/compose.ts does. */
export function makeAuthBed(
  overrides: ConfigOverrides,
  options: { users?: UserSource; logger?: Logger } = {},
): AuthBed {
  const bed = makeTestBed(overrides, options.logger);
  const authenticate = createAuthenticator(bed.deps.config, {
    ...(options.users === undefined ? {} : { users: options.users }),
    now: bed.clock.now,
  });
  return { bed, authenticate, handler: createHandler({ ...bed.deps, authenticate }) };
}
