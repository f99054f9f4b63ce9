import { randomBytes } from 'node:crypto';
import { isBitsAck } from './ack';
import { BitsConnection } from './connection';
import { BitsClientError, NetworkError, ProtocolError, UsageError } from './errors';
import type { UploadEvent } from './events';
import type { RetryPolicy } from './retry';
import { bufferSource } from './source';
import { Transport } from './transport';
import { checkOptions, DEFAULT_TIMEOUT_MS, runUpload } from './upload';
import type { Credentials } from './url';

export interface SmokeOptions {
  /** Where to try: the file goes under this URL's path. */
  readonly url: string | URL;
  readonly credentials?: Credentials;
  readonly basicUpfront?: boolean;
  readonly insecure?: boolean;
  readonly ca?: string | Buffer;
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly signal?: AbortSignal;
  /** File name to upload; default `bits-smoke-<time>-<random>.txt`, unique per run. */
  readonly name?: string;
}

export interface SmokePacket {
  readonly packetType: string;
  readonly status?: number;
  readonly rttMs: number;
  readonly error?: string;
}

export interface SmokeReport {
  readonly ok: boolean;
  /** The URL the smoke file went to. */
  readonly url: string;
  /**
   * Whether BITS_POST reached a BITS server: an Ack came back. Undefined when nothing answered.
   */
  readonly passesBitsPost: boolean | undefined;
  /** One plain sentence on what was found. */
  readonly verdict: string;
  readonly advice?: string;
  readonly protocol?: string;
  readonly sessionId?: string;
  readonly bytes: number;
  /** Every HTTP exchange in order, with its round-trip time. */
  readonly packets: readonly SmokePacket[];
  /** Why it failed, when it did. */
  readonly error?: BitsClientError;
}

const ADVICE_FRONT =
  'Deploy with the ALB front (an ALB listener rule passes custom methods; keep fragments under its 1 MB body limit), ' +
  'or use a client that sends POST with X-Http-Method-Override: BITS_POST.';

/** `…/dir/name`: the smoke file's URL under the given URL's path. */
export function smokeUrl(base: string | URL, name: string): URL {
  let url: URL;
  try {
    url = new URL(String(base));
  } catch {
    throw new UsageError(`not a URL: "${String(base)}"`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(name)}`;
  return url;
}

const uniqueName = (): string =>
  `bits-smoke-${new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}.txt`;

/**
 * Checks a deployed endpoint: a real BITS_POST Ping (does the front pass the method?), then a
 * tiny upload with the upload code itself, timing every packet.
 */
export async function smokeTest(options: SmokeOptions): Promise<SmokeReport> {
  const name = options.name ?? uniqueName();
  const data = Buffer.from(`bits-upload smoke test ${new Date().toISOString()}\n`);
  const target = smokeUrl(options.url, name);
  const checked = checkOptions({ ...options, url: target, ping: false });
  const packets: SmokePacket[] = [];
  const onEvent = (event: UploadEvent): void => {
    if (event.type !== 'packet') return;
    packets.push({
      packetType: event.packetType,
      rttMs: Math.round(event.rttMs * 10) / 10,
      ...(event.status === undefined ? {} : { status: event.status }),
      ...(event.error === undefined ? {} : { error: event.error }),
    });
  };
  const report = (fields: Omit<SmokeReport, 'url' | 'bytes' | 'packets'>): SmokeReport => ({
    url: checked.url.href,
    bytes: data.length,
    packets,
    ...fields,
  });

  // The Ping alone, once: its raw answer tells who answered.
  const transport = new Transport({
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(options.insecure === undefined ? {} : { insecure: options.insecure }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  const connection = new BitsConnection(transport, {
    userAgent: 'bits-upload-smoke/0.1 (Node.js)',
    onEvent,
    ...(checked.credentials === undefined ? {} : { credentials: checked.credentials }),
    ...(options.basicUpfront === undefined ? {} : { basicUpfront: options.basicUpfront }),
  });
  let ping: Awaited<ReturnType<BitsConnection['send']>>;
  try {
    ping = await connection.send({ type: 'Ping', url: checked.url }, options.signal);
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    return report({
      ok: false,
      passesBitsPost: undefined,
      verdict: `nothing answered the Ping: ${error.message}`,
      error,
    });
  } finally {
    transport.close();
  }

  const { answer, verdict } = ping;
  if (!isBitsAck(answer)) {
    return report({
      ok: false,
      passesBitsPost: false,
      verdict: `the front answered the BITS_POST Ping with ${answer.status} ${answer.statusText} and no BITS headers: it does not pass the BITS_POST method to the BITS server`,
      advice: ADVICE_FRONT,
      error: new ProtocolError('Ping', answer.status, 'not a BITS Ack'),
    });
  }
  if (verdict.kind !== 'ok') {
    const error = 'error' in verdict ? verdict.error : new ProtocolError('Ping', answer.status, verdict.kind);
    return report({
      ok: false,
      passesBitsPost: true,
      verdict: `BITS_POST reaches the BITS server, but it refused the Ping: ${error.message}`,
      error,
    });
  }

  try {
    const result = await runUpload({ ...checked, onEvent }, bufferSource(name, data));
    return report({
      ok: true,
      passesBitsPost: true,
      verdict: `the front passes BITS_POST and the BITS server took a ${data.length}-byte upload`,
      protocol: result.protocol,
      sessionId: result.sessionId,
    });
  } catch (error) {
    if (!(error instanceof BitsClientError)) throw error;
    return report({
      ok: false,
      passesBitsPost: true,
      verdict: `the front passes BITS_POST, but the test upload failed: ${error.message}`,
      error,
    });
  }
}
