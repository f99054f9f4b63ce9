import { UsageError } from './errors';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/**
 * The destination URL (the remote file name, same on every packet, §1) as an http(s) URL without
 * user info: credentials written into the URL are taken out and returned separately, so they go
 * only where the Basic rules say and never into logs.
 */
export function parseDestination(raw: string | URL): { url: URL; credentials?: Credentials } {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    throw new UsageError(`not a URL: "${String(raw)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`only http:// and https:// URLs can take BITS uploads, got ${url.protocol}`);
  }
  if (url.pathname === '/' || url.pathname.endsWith('/')) {
    // The server answers E_INVALIDARG for a directory (§1); saying so here is clearer.
    throw new UsageError(`the URL names a directory, not a file: ${url.href}`);
  }
  url.hash = '';
  if (url.username === '' && url.password === '') return { url };
  const credentials = {
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
  url.username = '';
  url.password = '';
  return { url, credentials };
}

/**
 * The URL for packets after a Create-Session Ack that named BITS-Host-Id: the same URL with the
 * host replaced (§3.2). The value is a host name or IPv6 address; a `host:port` form also moves
 * the port, otherwise the port stays. Undefined when the value is not a host.
 */
export function withHostId(url: URL, hostId: string): URL | undefined {
  const value = hostId.trim();
  const colons = value.split(':').length - 1;
  const host = colons > 1 && !value.startsWith('[') ? `[${value}]` : value;
  let parsed: URL;
  try {
    parsed = new URL(`${url.protocol}//${host}/`);
  } catch {
    return undefined;
  }
  if (value === '' || parsed.username !== '' || parsed.pathname !== '/' || parsed.search !== '') {
    return undefined;
  }
  const next = new URL(url.href);
  next.hostname = parsed.hostname;
  const port = /^(?:\[[^\]]*\]|[^:[\]]*):(\d+)$/.exec(host)?.[1];
  if (port !== undefined) next.port = port;
  return next;
}

/**
 * An absolute reply URL from BITS-Reply-URL: IIS sends a path relative to the upload URL's
 * directory, with backslashes (§7), which the Windows client turns into slashes and resolves
 * against the upload URL (braces come out percent-encoded, as in the RX-2 GET). An application's
 * static reply URL is absolute and taken as given. Only http(s) replies can be downloaded; user
 * info in the value is dropped, so no password lands in results or logs. Undefined when unusable.
 */
export function resolveReplyUrl(uploadUrl: URL, replyUrl: string): string | undefined {
  const value = replyUrl.trim();
  if (value === '') return undefined;
  let resolved: URL;
  try {
    resolved = new URL(/^[a-z][a-z0-9+.-]*:/i.test(value) ? value : value.replaceAll('\\', '/'), uploadUrl);
  } catch {
    return undefined;
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') return undefined;
  resolved.username = '';
  resolved.password = '';
  resolved.hash = '';
  return resolved.href;
}

/** URL with its path, for messages: never the query (it may carry a token). */
export const displayUrl = (url: URL): string => `${url.origin}${url.pathname}`;
