import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type {
  LambdaStyleFunction,
  NotificationEvent,
} from '../../lambda/adapters/lambda-notification-target';
import type { BitsLambdaHandler } from '../../lambda/create-handler';
import { exampleNotificationFunction, exampleReply } from '../../local/notify-example';
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

/** Misbehaviour rates for property tests: lost acks, duplicates, overlaps, gaps and pings. */
export const misbehaviourArbitrary = (): fc.Arbitrary<Misbehaviour> =>
  fc.record({
    lostAck: fc.double({ min: 0, max: 0.3, noNaN: true }),
    duplicate: fc.double({ min: 0, max: 0.2, noNaN: true }),
    overlap: fc.double({ min: 0, max: 0.2, noNaN: true }),
    gap: fc.double({ min: 0, max: 0.2, noNaN: true }),
    ping: fc.double({ min: 0, max: 0.1, noNaN: true }),
  });

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

/** How the upload-reply application of a notification run behaves (runner.ts). */
export interface NotificationBehaviour {
  readonly type: 'by-reference' | 'by-value';
  /** Probability per call of throwing (a failed function: 500, context 0x7). */
  readonly throwRate: number;
  /** Probability per call of answering after a delay within `slowMs`. */
  readonly slowRate: number;
  readonly slowMs: readonly [number, number];
  /** Probability per call of answering only after `timeoutMs` (past the notification timeout). */
  readonly timeoutRate: number;
  readonly timeoutMs: number;
}

export interface ReliabilityApplication {
  /** The Lambda-style function (the example application, with failures and delays injected). */
  readonly fn: LambdaStyleFunction;
  /** Holds a `{ count }` per request; each injected failure in that request increments it. */
  readonly failures: AsyncLocalStorage<{ count: number }>;
  /** The replies the function answered for a session, in order. */
  answers(sessionId: string): readonly Buffer[];
  /** Waits for calls still running (e.g. past the timeout). */
  settle(): Promise<void>;
  readonly calls: number;
  readonly failuresInjected: number;
  readonly anomalies: readonly string[];
}

/**
 * The example notification function (local/notify-example.ts) as the reliability runs use it: each
 * reply is unique (session, call number, random padding) so a download tells which answer it is;
 * it throws, answers slowly or too late at random; and it checks that it saw the whole upload and
 * that it is never called for a session whose answer is already recorded.
 */
export function createReliabilityApplication(options: {
  behaviour: NotificationBehaviour;
  random: () => number;
  expectedSha256: string;
  recorded: (sessionId: string) => boolean;
}): ReliabilityApplication {
  const { behaviour, random } = options;
  const failures = new AsyncLocalStorage<{ count: number }>();
  const answers = new Map<string, Buffer[]>();
  const anomalies: string[] = [];
  const running = new Set<Promise<unknown>>();
  let calls = 0;
  let failuresInjected = 0;
  const example = exampleNotificationFunction((upload) => {
    if (upload.sha256 !== options.expectedSha256) {
      anomalies.push(
        `the application read ${upload.size} bytes of ${upload.sessionId} that differ from the upload`,
      );
    }
    const padding = Buffer.alloc(logUniform(random, 1, 12_000), calls & 0xff);
    return Buffer.concat([exampleReply(upload), Buffer.from(`call ${calls}\n`, 'utf8'), padding]);
  });
  const call = async (event: NotificationEvent) => {
    calls += 1;
    if (options.recorded(event.sessionId)) {
      anomalies.push(`the application was called again for ${event.sessionId} after its answer was recorded`);
    }
    const draw = random();
    const failure = failures.getStore();
    if (draw < behaviour.timeoutRate) {
      failuresInjected += 1;
      if (failure !== undefined) failure.count += 1;
      await sleep(behaviour.timeoutMs);
    } else if (draw < behaviour.timeoutRate + behaviour.slowRate) {
      const [min, max] = behaviour.slowMs;
      await sleep(min + Math.floor(random() * (max - min)));
    }
    if (random() < behaviour.throwRate) {
      failuresInjected += 1;
      if (failure !== undefined) failure.count += 1;
      throw new Error('injected application failure');
    }
    const answer = await example(event);
    const reply = Buffer.from(answer?.body ?? '', 'base64');
    answers.set(event.sessionId, [...(answers.get(event.sessionId) ?? []), reply]);
    return answer;
  };
  const fn: LambdaStyleFunction = (event) => {
    const promise = call(event);
    running.add(promise);
    promise.then(
      () => running.delete(promise),
      () => running.delete(promise),
    );
    return promise;
  };
  return {
    fn,
    failures,
    answers: (sessionId) => answers.get(sessionId) ?? [],
    settle: async () => {
      await Promise.allSettled([...running]);
    },
    get calls() {
      return calls;
    },
    get failuresInjected() {
      return failuresInjected;
    },
    anomalies,
  };
}
