/**
 * The user metadata the BITS server writes at Create-Session (lambda/handlers/create-session.ts),
 * as HeadObject returns it: `x-amz-meta-` stripped, names in lower case. Copied here rather than
 * imported so this folder stays a self-contained template.
 */
export const BITS_METADATA = {
  sessionId: 'bits-session-id',
  principal: 'bits-owner',
  originalPath: 'bits-original-path',
  contentName: 'bits-content-name',
  createdAt: 'bits-created-at',
} as const;

/** One or more `%XX` escapes in a row, upper-case hex as encodeURIComponent writes them. */
const ESCAPE_RUN = /(?:%[0-9A-F]{2})+/g;

/** How many bytes the UTF-8 sequence starting with `lead` has; 0 for a byte no character starts with. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** One character's escapes, decoded; undefined when they are not valid UTF-8. */
function decodeCharacter(escapes: string): string | undefined {
  try {
    return decodeURIComponent(escapes);
  } catch {
    return undefined;
  }
}

/**
 * Inverts the server's metadata escaping. Metadata travels as HTTP headers, so the server
 * replaces every character outside printable ASCII (control characters and non-ASCII) with its
 * UTF-8 percent-encoding and leaves printable ASCII, `%` included, as it is. So only escapes of
 * such characters are decoded: `%C3%9C` becomes `Ü`, while `50%` or `%41` (which the server would
 * never have produced from a character) stay as sent. A sequence that is not valid UTF-8, such as
 * one cut by the server's length budget, stays escaped. The one ambiguity: a client value that
 * itself contained text like `%C3%9C` is shown decoded.
 */
export function decodeMetadataValue(value: string): string {
  return value.replace(ESCAPE_RUN, (run) => {
    const bytes = run.match(/%[0-9A-F]{2}/g) ?? [];
    let decoded = '';
    for (let index = 0; index < bytes.length; ) {
      const lead = Number.parseInt(bytes[index]?.slice(1) ?? '', 16);
      const length = lead >= 0x20 && lead <= 0x7e ? 0 : sequenceLength(lead);
      const character =
        length === 0 || index + length > bytes.length
          ? undefined
          : decodeCharacter(bytes.slice(index, index + length).join(''));
      if (character === undefined) {
        decoded += bytes[index];
        index += 1;
      } else {
        decoded += character;
        index += length;
      }
    }
    return decoded;
  });
}
