import { BitsError } from './errors';

/** The only protocol MC-BUP defines: BITS 1.5 Upload (§6). Sent back in exactly this spelling (D3). */
export const BITS_UPLOAD_PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';

/** Windows servers handle up to 100 GUIDs (MC-BUP §2.2.2.2 note <6>). */
export const MAX_SUPPORTED_PROTOCOLS = 100;

const bare = (guid: string): string => guid.replace(/^\{(.*)\}$/, '$1').toLowerCase();

/**
 * Picks BITS 1.5 from a space- and/or comma-separated GUID list, comparing case-insensitively with
 * or without braces (§12 D3, T08–T12). No known GUID, or too many entries, is E_INVALIDARG.
 */
export function negotiateProtocol(raw: string | undefined): string {
  if (raw === undefined) throw new BitsError('INVALID_ARGUMENT', 'missing BITS-Supported-Protocols');
  const offered = raw.split(/[\s,]+/).filter((entry) => entry !== '');
  if (offered.length > MAX_SUPPORTED_PROTOCOLS) {
    throw new BitsError('INVALID_ARGUMENT', 'too many BITS-Supported-Protocols entries');
  }
  if (!offered.some((guid) => bare(guid) === bare(BITS_UPLOAD_PROTOCOL))) {
    throw new BitsError('INVALID_ARGUMENT', 'no supported protocol offered');
  }
  return BITS_UPLOAD_PROTOCOL;
}
