import { BitsError } from './errors';

/** BITS-Packet-Type values a client may send, normalised to lower case (MC-BUP §2.2.1.2; §12 D2). */
export const PACKET_TYPES = [
  'ping',
  'create-session',
  'fragment',
  'close-session',
  'cancel-session',
] as const;
export type PacketType = (typeof PACKET_TYPES)[number];

/** The value every response carries in BITS-Packet-Type. */
export const ACK_PACKET_TYPE = 'Ack';

const isPacketType = (value: string): value is PacketType =>
  (PACKET_TYPES as readonly string[]).includes(value);

/** Matches the header case-insensitively; a missing or unknown type is E_INVALIDARG (T04, T05). */
export function parsePacketType(raw: string | undefined): PacketType {
  if (raw === undefined) throw new BitsError('INVALID_ARGUMENT', 'missing BITS-Packet-Type');
  const value = raw.trim().toLowerCase();
  if (!isPacketType(value)) throw new BitsError('INVALID_ARGUMENT', 'unknown BITS-Packet-Type');
  return value;
}
