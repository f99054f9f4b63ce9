import { BITS_ERRORS, type BitsErrorSpec, ERROR_CONTEXT, formatHresult } from '../lambda/protocol/errors';

export { formatHresult };

/**
 * HRESULTs a client meets that the server's table does not send (bits-protocol.md §5.2b), plus the
 * ones this client raises itself. Names as in Bitsmsg.h / winerror.h.
 */
const CLIENT_HRESULT_NAMES: Readonly<Record<number, string>> = {
  2149580828: 'BG_E_TOO_MANY_FILES',
  2149580829: 'BG_E_LOCAL_FILE_CHANGED',
  2149580834: 'BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH',
  2149580835: 'BG_E_SERVER_EXECUTE_ENABLED',
  2147942674: 'ERROR_DISK_FULL',
};

/** HRESULTs the client acts on. */
export const HRESULT = {
  sessionNotFound: 0x8020001f,
  tooLarge: 0x80200020,
  accessDenied: 0x80070005,
  invalidArgument: 0x80070057,
  protocolMismatch: 0x80200022,
  localFileChanged: 0x8020001d,
} as const;

/** Windows reports an HTTP status that came without a BITS error as BG_E_HTTP_ERROR_<status> (§5.2b). */
const HTTP_ERROR_BASE = 0x80190000;

export const httpErrorHresult = (status: number): number => (HTTP_ERROR_BASE + status) >>> 0;

const serverSpecs: readonly BitsErrorSpec[] = Object.values(BITS_ERRORS);

/** The name of an HRESULT: the server's error table first, then the client-side names. */
export function hresultName(hresult: number): string | undefined {
  const unsigned = hresult >>> 0;
  const spec = serverSpecs.find((candidate) => candidate.hresult === unsigned);
  if (spec?.hresultName !== undefined) return spec.hresultName;
  const client = CLIENT_HRESULT_NAMES[unsigned];
  if (client !== undefined) return client;
  const status = unsigned - HTTP_ERROR_BASE;
  if (status >= 100 && status <= 599) return `BG_E_HTTP_ERROR_${status}`;
  return undefined;
}

/**
 * What the server's table says the condition means, when it lists this status and HRESULT (or,
 * unless `exact`, this HRESULT with another status).
 */
export function hresultMeaning(
  status: number,
  hresult: number,
  options: { readonly exact?: boolean } = {},
): string | undefined {
  const unsigned = hresult >>> 0;
  return (
    serverSpecs.find((spec) => spec.hresult === unsigned && spec.status === status) ??
    (options.exact === true ? undefined : serverSpecs.find((spec) => spec.hresult === unsigned))
  )?.meaning;
}

/** BITS-Error-Context values (§5.2), spelled for messages. */
export function contextName(context: number): string {
  if (context === ERROR_CONTEXT.server) return 'BITS server';
  if (context === ERROR_CONTEXT.remoteApplication) return 'server application';
  return 'unknown context';
}

/**
 * Parses an HRESULT or context as servers write it: `0x8020001F`, `0x8020001f`, the spec prose's
 * `x8020001F`, or bare hex digits (§5.1 "uncertain"). Anything else is undefined.
 */
export function parseHex(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const match = /^(?:0?x)?([0-9a-f]{1,8})$/i.exec(raw.trim());
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], 16) >>> 0;
}
