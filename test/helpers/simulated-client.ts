import type { BitsLambdaHandler } from '../../lambda/create-handler';
import { createSession, sendFragment, sendPacket } from './bits-client-steps';
import type { Answer } from './events';

/** Small deterministic PRNG (mulberry32) so fast-check can shrink a run to its seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer log-uniform in [min, max]. */
export const logUniform = (random: () => number, min: number, max: number): number =>
  Math.min(max, Math.floor(Math.exp(Math.log(min) + random() * (Math.log(max + 1) - Math.log(min)))));

export interface Misbehaviour {
  /** Probability that an ack is lost, so the client resends the same fragment. */
  readonly lostAck: number;
  /** Probability that a fragment is sent twice in a row. */
  readonly duplicate: number;
  /** Probability that a fragment starts before the offset (overlap). */
  readonly overlap: number;
  /** Probability that a fragment starts past the offset (gap, expects 416). */
  readonly gap: number;
  /** Probability of a Ping between fragments. */
  readonly ping: number;
}

export interface SimulatedUpload {
  readonly sessionId: string;
  readonly statuses: Map<number, number>;
  readonly fragments: number;
  readonly close: Answer;
}

function record(statuses: Map<number, number>, answer: Answer): Answer {
  statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
  return answer;
}

/**
 * A client that follows MC-BUP's client rules (continue at BITS-Received-Content-Range on 200 and
 * 416, halve the fragment on 413) while misbehaving at random as networks and retries do.
 */
export async function simulateUpload(
  handler: BitsLambdaHandler,
  file: Buffer,
  options: { fragmentSize: number; minFragment: number; random: () => number; misbehaviour: Misbehaviour },
): Promise<SimulatedUpload> {
  const { random, misbehaviour } = options;
  const statuses = new Map<number, number>();
  const sessionId = await createSession(handler);
  let offset = 0;
  let size = options.fragmentSize;
  let fragments = 0;
  const send = async (first: number, length: number) => {
    fragments += 1;
    return record(
      statuses,
      await sendFragment(handler, sessionId, first, file.subarray(first, first + length), file.length),
    );
  };
  while (offset < file.length) {
    if (fragments > 100_000) throw new Error('client made no progress');
    if (random() < misbehaviour.ping) record(statuses, await sendPacket(handler, 'Ping'));
    let first = offset;
    if (random() < misbehaviour.overlap && offset > 0) first = Math.floor(random() * offset);
    else if (random() < misbehaviour.gap && offset + 1 < file.length) {
      first = offset + 1 + Math.floor(random() * (file.length - offset - 1));
    }
    const length = Math.min(size, file.length - first);
    if (random() < misbehaviour.duplicate) await send(first, length);
    let answer = await send(first, length);
    while (random() < misbehaviour.lostAck) answer = await send(first, length);
    if (answer.status === 413) {
      if (size <= options.minFragment) throw new Error('413 at the minimum fragment size');
      size = Math.max(options.minFragment, Math.floor(size / 2));
      continue;
    }
    if (answer.status !== 200 && answer.status !== 416) {
      throw new Error(
        `fragment ${first}+${length} answered ${answer.status} ${answer.headers['bits-error-code']}`,
      );
    }
    offset = Number(answer.headers['bits-received-content-range']);
  }
  const close = record(statuses, await sendPacket(handler, 'Close-Session', sessionId));
  return { sessionId, statuses, fragments, close };
}
