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
