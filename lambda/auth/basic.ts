import { createHmac, randomBytes } from 'node:crypto';
import { BitsError } from '../protocol/errors';
import { HEADERS, MAX_HEADER_VALUE_BYTES } from '../protocol/headers';
import type { HttpRequest } from '../protocol/http';
import type { Authenticate } from './authenticate';
import { verifyPassword } from './password-hash';
import type { UserSource } from './user-table';

/** RFC 7617 §2: `Basic <base64(user-id ":" password)>`; the scheme name is case-insensitive. */
const BASIC_CREDENTIALS = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;
/** Successful checks remembered per function instance (see VerifiedCache). */
const VERIFIED_CACHE_ENTRIES = 1000;

/** `Basic realm="…", charset="UTF-8"` (RFC 7617 §2.1: the client should send UTF-8). */
export const basicChallenge = (realm: string): string => `Basic realm="${realm}", charset="UTF-8"`;

export interface BasicAuthOptions {
  readonly realm: string;
  readonly users: UserSource;
  /** How long a successful check is remembered; 0 checks every request. */
  readonly cacheSeconds: number;
  /** Epoch milliseconds. */
  readonly now?: () => number;
}

interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** UTF-8 as we ask for; a client that ignores `charset` probably sent ISO-8859-1. */
function decodeText(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/** The credentials of an Authorization header, or undefined when there are none or they are malformed. */
function readCredentials(header: string | undefined): Credentials | undefined {
  if (header === undefined || Buffer.byteLength(header) > MAX_HEADER_VALUE_BYTES) return undefined;
  const token = BASIC_CREDENTIALS.exec(header.trim())?.[1];
  if (token === undefined) return undefined;
  const text = decodeText(Buffer.from(token, 'base64'));
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon).normalize('NFC'), password: text.slice(colon + 1) };
}

/**
 * Successful checks, so that a client sending the same credentials on every packet pays for scrypt
 * once per period, not per fragment. Keys are HMACs under a per-instance random key of the
 * credentials and the stored record: no password is kept, and a changed record (new salt or hash)
 * no longer matches. Knowing that a hit is faster tells an observer nothing unless they already
 * hold the right password.
 */
class VerifiedCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  fingerprint(credentials: Credentials, salt: Buffer, hash: Buffer): string {
    return createHmac('sha256', this.#key)
      .update(
        JSON.stringify([
          credentials.user,
          credentials.password,
          salt.toString('base64'),
          hash.toString('base64'),
        ]),
      )
      .digest('base64');
  }

  has(fingerprint: string): boolean {
    const expiresAt = this.#entries.get(fingerprint);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.now()) return true;
    this.#entries.delete(fingerprint);
    return false;
  }

  add(fingerprint: string): void {
    if (this.ttlMs <= 0) return;
    this.#entries.delete(fingerprint);
    this.#entries.set(fingerprint, this.now() + this.ttlMs);
    // Oldest first (Map keeps insertion order): a flood of distinct logins cannot grow memory.
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= VERIFIED_CACHE_ENTRIES) break;
      this.#entries.delete(oldest);
    }
  }
}

/**
 * HTTP Basic against the user table. Windows BITS sends credentials only after a 401 challenge
 * (bits-protocol.md §1), so every refusal carries `WWW-Authenticate: Basic`. An unknown user is
 * checked against a decoy record of the same cost, and the comparison is constant-time, so the
 * answer's timing does not tell which users exist. The principal is the user name.
 */
export function basicAuthenticator(options: BasicAuthOptions): Authenticate {
  const challenge = basicChallenge(options.realm);
  const now = options.now ?? Date.now;
  const verified = new VerifiedCache(options.cacheSeconds * 1000, now);
  // Messages are logged: they may name a known user, never a password or the header.
  const refuse = (why: string) => new BitsError('UNAUTHORIZED', `basic auth: ${why}`, { challenge });

  return async (request: HttpRequest) => {
    const credentials = readCredentials(request.headers[HEADERS.authorization]);
    if (credentials === undefined) {
      throw refuse(
        request.headers[HEADERS.authorization] === undefined ? 'no credentials' : 'malformed credentials',
      );
    }
    const table = await options.users.load();
    const record = table.users.get(credentials.user);
    const checked = record ?? table.decoy;
    const fingerprint = verified.fingerprint(credentials, checked.salt, checked.hash);
    if (record !== undefined && verified.has(fingerprint)) return credentials.user;
    const matches = await verifyPassword(checked, credentials.password);
    if (record === undefined) throw refuse('unknown user');
    if (!matches) throw refuse(`wrong password for user ${credentials.user}`);
    verified.add(fingerprint);
    return credentials.user;
  };
}
