import { BitsError } from './errors';

/** S3's key length limit, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** C0 and C1 control characters and DEL. */
const isControl = (text: string): boolean =>
  [...text].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });

const invalid = (why: string): BitsError => new BitsError('INVALID_ARGUMENT', `destination path: ${why}`);

function decodeOnce(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch (error) {
    throw new BitsError('INVALID_ARGUMENT', 'destination path: bad percent-encoding', { cause: error });
  }
}

/**
 * Maps the URL path (percent-decoded once, NFC-normalised) to an object key under `keyPrefix`
 * (§12 D17). Decoding happens before the checks, so `%2F..%2F` is caught as a `..` segment.
 */
export function toObjectKey(path: string, keyPrefix: string): string {
  if (!path.startsWith('/')) throw invalid('not absolute');
  const decoded = decodeOnce(path).normalize('NFC');
  if (isControl(decoded)) throw invalid('control character');
  if (decoded.includes('\\')) throw invalid('backslash');
  const segments = decoded.slice(1).split('/');
  if (segments.at(-1) === '') throw invalid('names a directory');
  for (const segment of segments) {
    if (segment === '') throw invalid('empty segment');
    if (segment === '.' || segment === '..') throw invalid('dot segment');
  }
  const key = keyPrefix + segments.join('/');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw invalid('key longer than 1024 bytes');
  return key;
}

/** Characters a principal keeps in its key folder; everything else is percent-encoded (UTF-8). */
const PRINCIPAL_SAFE = /[A-Za-z0-9._@+=,-]/;

const percentEncode = (char: string): string =>
  [...Buffer.from(char, 'utf8')]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');

/**
 * The principal as one key segment (BITS_PRINCIPAL_PREFIX). Slashes, backslashes, `%`, `:`,
 * control and non-ASCII characters are percent-encoded, and so are the dots of a principal made
 * only of dots: the segment never splits into folders, is never `.` or `..`, and two principals
 * never share a folder, because the encoding is one-to-one (`%` itself is encoded).
 * `DOMAIN\alice` → `DOMAIN%5Calice`; `arn:aws:iam::1:user/u` → `arn%3Aaws%3Aiam%3A%3A1%3Auser%2Fu`.
 */
export function principalSegment(principal: string): string {
  // A lone surrogate would encode as U+FFFD, like any other: refused so the mapping stays one-to-one.
  if (principal === '' || /\p{Cs}/u.test(principal)) {
    throw new BitsError('INVALID_ARGUMENT', 'principal unusable as a key segment');
  }
  // Not Unicode-normalised: two principals that differ only in normal form stay apart too.
  if (/^\.+$/.test(principal)) return percentEncode(principal);
  return [...principal].map((char) => (PRINCIPAL_SAFE.test(char) ? char : percentEncode(char))).join('');
}

/** Where a principal's uploads go with BITS_PRINCIPAL_PREFIX: `<keyPrefix><principal segment>/`. */
export const principalKeyPrefix = (keyPrefix: string, principal: string): string =>
  `${keyPrefix}${principalSegment(principal)}/`;
