import type { PacketType } from '../protocol/packet-types';
import { handleCancelSession } from './cancel-session';
import { handleCloseSession } from './close-session';
import { handleCreateSession } from './create-session';
import { handleFragment } from './fragment';
import { handlePing } from './ping';
import type { PacketHandler } from './types';

/** Dispatch table: one handler per BITS packet type. */
export const PACKET_HANDLERS: Readonly<Record<PacketType, PacketHandler>> = {
  ping: handlePing,
  'create-session': handleCreateSession,
  fragment: handleFragment,
  'close-session': handleCloseSession,
  'cancel-session': handleCancelSession,
};
