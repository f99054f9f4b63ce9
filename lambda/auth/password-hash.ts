import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt cost parameters (RFC 7914). N = 2^14, r = 8 is the RFC's interactive-login setting: about
 * 16 MiB and a few tens of milliseconds per check on a Lambda core. Stored with every record, so
 * raising them later leaves older records verifiable.
 */
export const DEFAULT_SCRYPT = { N: 16_384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** Bounds on stored parameters: a bad record must not make one request allocate gigabytes. */
const LIMITS = { minN: 1024, maxN: 1_048_576, maxR: 32, maxP: 16, maxMemory: 256 * 1024 * 1024 } as const;

/** One user's stored verifier: scrypt(password, salt) with the parameters that made it. */
export interface PasswordRecord {
  readonly salt: Buffer;
  readonly hash: Buffer;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** The JSON form of a record in the SSM parameter (`salt` and `hash` in base64). */
export interface PasswordRecordJson {
  readonly salt: string;
  readonly hash: string;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export class PasswordRecordError extends Error {
  override name = 'PasswordRecordError';
}

/**
 * RFC 7617: the user-id cannot contain a colon; control characters would end up in logs. Names are
 * compared exactly, after NFC normalisation of what the client sends, so stored names must be NFC.
 */
export function userNameProblem(name: string): string | undefined {
  if (name === '' || name.length > 256) return 'must be 1 to 256 characters';
  if (name.includes(':')) return 'must not contain ":"';
  if (/[\p{Cc}\p{Cs}]/u.test(name)) return 'must not contain control characters';
  if (name !== name.normalize('NFC')) return 'must be in Unicode normal form C';
  return undefined;
}

const isPowerOfTwo = (value: number): boolean => Number.isSafeInteger(value) && (value & (value - 1)) === 0;

/** Memory scrypt needs for these parameters, with headroom for Node's own accounting. */
const scryptMemory = (N: number, r: number): number => 128 * N * r * 2;

function checkParameters(N: number, r: number, p: number): string | undefined {
  if (!isPowerOfTwo(N) || N < LIMITS.minN || N > LIMITS.maxN) {
    return `N must be a power of two from ${LIMITS.minN} to ${LIMITS.maxN}`;
  }
  if (!Number.isSafeInteger(r) || r < 1 || r > LIMITS.maxR) return `r must be 1 to ${LIMITS.maxR}`;
  if (!Number.isSafeInteger(p) || p < 1 || p > LIMITS.maxP) return `p must be 1 to ${LIMITS.maxP}`;
  if (128 * N * r > LIMITS.maxMemory) return 'N · r asks for more than 256 MiB';
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeBase64(value: unknown, field: string, minBytes: number, maxBytes: number): Buffer {
  if (typeof value !== 'string' || !BASE64.test(value))
    throw new PasswordRecordError(`${field} must be base64`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < minBytes || bytes.length > maxBytes) {
    throw new PasswordRecordError(`${field} must decode to ${minBytes} to ${maxBytes} bytes`);
  }
  return bytes;
}

/** Reads a record as stored; messages name the problem, never the values. */
export function parsePasswordRecord(value: unknown): PasswordRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PasswordRecordError('must be an object with salt, hash and N');
  }
  const fields = value as Record<string, unknown>;
  const N = fields.N;
  const r = fields.r ?? DEFAULT_SCRYPT.r;
  const p = fields.p ?? DEFAULT_SCRYPT.p;
  if (typeof N !== 'number' || typeof r !== 'number' || typeof p !== 'number') {
    throw new PasswordRecordError('N, r and p must be numbers');
  }
  const problem = checkParameters(N, r, p);
  if (problem !== undefined) throw new PasswordRecordError(problem);
  return {
    salt: decodeBase64(fields.salt, 'salt', 16, 64),
    hash: decodeBase64(fields.hash, 'hash', 16, 64),
    N,
    r,
    p,
  };
}

/** Passwords are compared as UTF-8 of their NFC form (RFC 8265 OpaqueString), on both sides. */
const passwordBytes = (password: string): Buffer => Buffer.from(password.normalize('NFC'), 'utf8');

/** scrypt off the main thread (libuv pool), so a local server keeps serving while it runs. */
export function deriveKey(
  password: string,
  salt: Buffer,
  keyLength: number,
  cost: ScryptCost,
): Promise<Buffer> {
  const options: ScryptOptions = { N: cost.N, r: cost.r, p: cost.p, maxmem: scryptMemory(cost.N, cost.r) };
  return new Promise((resolve, reject) => {
    scrypt(passwordBytes(password), salt, keyLength, options, (error, key) => {
      if (error === null) resolve(key);
      else reject(error);
    });
  });
}

export type ScryptCost = Pick<PasswordRecord, 'N' | 'r' | 'p'>;

/**
 * Derives scrypt(password) with the record's salt and parameters and compares it with the stored
 * hash in constant time: equal-length buffers, crypto.timingSafeEqual. Always does the full work.
 */
export async function verifyPassword(record: PasswordRecord, password: string): Promise<boolean> {
  const derived = await deriveKey(password, record.salt, record.hash.length, record);
  return timingSafeEqual(derived, record.hash);
}

/** A new record for `password`: fresh random salt, the given (or default) cost. */
export async function hashPassword(
  password: string,
  cost: ScryptCost = DEFAULT_SCRYPT,
): Promise<PasswordRecordJson> {
  const problem = checkParameters(cost.N, cost.r, cost.p);
  if (problem !== undefined) throw new PasswordRecordError(problem);
  const salt = randomBytes(SALT_BYTES);
  const hash = await deriveKey(password, salt, HASH_BYTES, cost);
  return { salt: salt.toString('base64'), hash: hash.toString('base64'), N: cost.N, r: cost.r, p: cost.p };
}

/**
 * A record no password matches (random hash), with the given cost: unknown users are checked
 * against it, so an answer takes as long whether or not the user exists.
 */
export function decoyRecord(cost: ScryptCost = DEFAULT_SCRYPT): PasswordRecord {
  return { salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES), N: cost.N, r: cost.r, p: cost.p };
}
