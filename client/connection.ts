import { performance } from 'node:perf_hooks';
import { HEADERS, RESPONSE_HEADERS } from '../lambda/protocol/headers';
import type { PacketType } from '../lambda/protocol/packet-types';
import { BITS_UPLOAD_PROTOCOL } from '../lambda/protocol/supported-protocols';
import { interpretAnswer, refusalDetails, type Verdict } from './ack';
import { ServerRefusedError } from './errors';
import type { UploadEvent } from './events';
import type { HttpAnswer, Transport } from './transport';
import { type Credentials, displayUrl } from './url';

/** Packet types as the Windows client spells them on the wire (MC-BUP §4.1 traces). */
export const WIRE_PACKET_TYPES = {
  ping: 'Ping',
  'create-session': 'Create-Session',
  fragment: 'Fragment',
  'close-session': 'Close-Session',
  'cancel-session': 'Cancel-Session',
} as const satisfies Record<PacketType, string>;

export type WirePacketType = (typeof WIRE_PACKET_TYPES)[PacketType];

export const BITS_METHOD = 'BITS_POST';

export interface Packet {
  readonly type: WirePacketType;
  readonly url: URL;
  readonly sessionId?: string;
  /** Content-Name: Windows sends it on every Fragment and on Close-Session (§9). */
  readonly contentName?: string;
  /** Inclusive byte range of `body` within a `total`-byte file. */
  readonly range?: { readonly first: number; readonly total: number };
  readonly body?: Buffer;
}

export interface Exchange {
  readonly answer: HttpAnswer;
  readonly verdict: Verdict;
}

export interface ConnectionOptions {
  readonly credentials?: Credentials;
  /** Send Basic credentials from the first packet instead of waiting for a 401. */
  readonly basicUpfront?: boolean;
  readonly userAgent: string;
  readonly onEvent?: (event: UploadEvent) => void;
}

/**
 * Basic credentials and whether they go out yet: from the first request with `upfront`, else
 * from the resend after the first 401 that offers Basic (MC-BUP §3.1.5.2.1), then on every later
 * request to the origins the caller trusts with them. Shared by the BITS packets and the reply
 * download, so one challenge is answered once.
 */
export class BasicAuth {
  private sending: boolean;

  constructor(
    readonly credentials: Credentials | undefined,
    upfront = false,
  ) {
    this.sending = upfront && credentials !== undefined;
  }

  /** Credentials are on every request now. */
  get active(): boolean {
    return this.sending;
  }

  /** The Authorization value while active. */
  header(): string | undefined {
    if (!this.sending || this.credentials === undefined) return undefined;
    const { user, password } = this.credentials;
    return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }

  /** After a 401 offering Basic: true when the request should go again, now with credentials. */
  answerChallenge(offersBasicScheme: boolean): boolean {
    if (this.credentials === undefined || !offersBasicScheme || this.sending) return false;
    this.sending = true;
    return true;
  }

  /** Why a 401 is final, for the error message. */
  refusal(offered: string): string {
    if (this.sending) return 'the server refused the credentials';
    return this.credentials === undefined
      ? `the server asks for authentication (WWW-Authenticate: ${offered}); give --user and --password`
      : `the server offers only ${offered}; this client speaks Basic only`;
  }
}

/**
 * Sends BITS packets and classifies the answers. Owns authentication: a 401 that offers Basic is
 * answered by resending the same packet once with credentials, which then go on every later
 * packet (MC-BUP §3.1.5.2.1); a second 401 is the server's final word.
 */
export class BitsConnection {
  readonly auth: BasicAuth;

  constructor(
    private readonly transport: Transport,
    private readonly options: ConnectionOptions,
  ) {
    this.auth = new BasicAuth(options.credentials, options.basicUpfront === true);
  }

  async send(packet: Packet, signal: AbortSignal | undefined, size = 0): Promise<Exchange> {
    const first = await this.transmit(packet, signal, size);
    if (first.verdict.kind !== 'challenge') return first;
    if (this.auth.answerChallenge(first.verdict.basic)) {
      this.options.onEvent?.({ type: 'auth', scheme: 'Basic' });
      const second = await this.transmit(packet, signal, size);
      if (second.verdict.kind !== 'challenge') return second;
      return this.refuseChallenge(packet, second.answer, 'the server refused the credentials');
    }
    const offered = first.answer.headers[RESPONSE_HEADERS.wwwAuthenticate.toLowerCase()] ?? '(no challenge)';
    return this.refuseChallenge(packet, first.answer, this.auth.refusal(offered));
  }

  private refuseChallenge(packet: Packet, answer: HttpAnswer, why: string): Exchange {
    return {
      answer,
      verdict: { kind: 'fatal', error: new ServerRefusedError(refusalDetails(packet.type, answer), why) },
    };
  }

  private async transmit(packet: Packet, signal: AbortSignal | undefined, size: number): Promise<Exchange> {
    const started = performance.now();
    const url = displayUrl(packet.url);
    try {
      const answer = await this.transport.request(
        BITS_METHOD,
        packet.url,
        this.headersFor(packet),
        packet.body,
        signal,
      );
      this.options.onEvent?.({
        type: 'packet',
        packetType: packet.type,
        url,
        status: answer.status,
        rttMs: performance.now() - started,
      });
      return { answer, verdict: interpretAnswer(packet.type, answer, size) };
    } catch (error) {
      this.options.onEvent?.({
        type: 'packet',
        packetType: packet.type,
        url,
        rttMs: performance.now() - started,
        error: (error as Error).message,
      });
      throw error;
    }
  }

  private headersFor(packet: Packet): Record<string, string> {
    const bodyLength = packet.body?.length ?? 0;
    const headers: Record<string, string> = {
      accept: '*/*',
      'user-agent': this.options.userAgent,
      [HEADERS.packetType]: packet.type,
      // Every request carries Content-Length, 0 for all but Fragment (§1).
      [HEADERS.contentLength]: String(bodyLength),
    };
    if (packet.type === 'Create-Session') headers[HEADERS.supportedProtocols] = BITS_UPLOAD_PROTOCOL;
    if (packet.sessionId !== undefined) headers[HEADERS.sessionId] = packet.sessionId;
    if (packet.contentName !== undefined) headers[HEADERS.contentName] = packet.contentName;
    if (packet.range !== undefined) {
      const last = packet.range.first + bodyLength - 1;
      headers[HEADERS.contentRange] = `bytes ${packet.range.first}-${last}/${packet.range.total}`;
    }
    const authorization = this.auth.header();
    if (authorization !== undefined) headers[HEADERS.authorization] = authorization;
    return headers;
  }
}
