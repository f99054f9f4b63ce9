import { randomUUID } from 'node:crypto';
import { BitsError } from './errors';

const SESSION_ID = /^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$/i;

/** `{` + upper-case GUID + `}`, as IIS prints them (§12 D15). */
export const formatSessionId = (guid: string): string => `{${guid.toUpperCase()}}`;

/** A new session id from a version-4 GUID: 122 random bits, nothing guessable. */
export const newSessionId = (): string => formatSessionId(randomUUID());

/** The id in canonical form, or undefined when the header is absent or not a braced GUID. */
export function readSessionId(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  return SESSION_ID.test(value) ? value.toUpperCase() : undefined;
}

/** Fragment, Close-Session and Cancel-Session must name a session (T29). */
export function parseSessionId(raw: string | undefined): string {
  if (raw === undefined) throw new BitsError('INVALID_ARGUMENT', 'missing BITS-Session-Id');
  const id = readSessionId(raw);
  if (id === undefined) throw new BitsError('INVALID_ARGUMENT', 'malformed BITS-Session-Id');
  return id;
}
