import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  FinalizeRequestMiddleware,
  HandlerExecutionContext,
  InitializeMiddleware,
  MiddlewareStack,
} from '@smithy/types';

/**
 * What can go wrong around one SDK call made inside an invocation:
 * - `fail-before`: a transient service error (S3 503 SlowDown / ServiceUnavailable / 500, DynamoDB
 *   throttling / 500) instead of the call, as if the SDK's own retries were exhausted; the adapters
 *   turn it into a 503 for the client.
 * - `fail-before-unknown`: an error no adapter knows (the handler answers 500 E_FAIL).
 * - `fail-after`: the call completes (its effect happened) but the caller sees a transient error.
 * - `lost-response`: the first attempt completes but its response is lost on the wire; the SDK's
 *   retry strategy sends the same request again (the duplicate-request case: a conditional write
 *   that already applied, a CreateMultipartUpload that already created an upload).
 * - `delay`: the call starts late (widens the windows concurrent invocations race in).
 * - `crash`: the call completes, then the Lambda dies: this call throws an InjectedCrash and every
 *   later call of the same invocation throws too without reaching the service.
 */
export const FAULT_KINDS = [
  'fail-before',
  'fail-before-unknown',
  'fail-after',
  'lost-response',
  'delay',
  'crash',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probability per SDK call of each kind (their sum must not exceed 1). */
export type FaultRates = Partial<Record<FaultKind, number>>;

/** A scripted fault: fires on the `nth` matching call (1-based, counted over the injector's life). */
export interface FaultRule {
  readonly kind: FaultKind;
  /** SDK command name, e.g. `CompleteMultipartUploadCommand`; unset matches every command. */
  readonly command?: string;
  /** Only calls of invocations with this label count. */
  readonly label?: string;
  readonly nth: number;
}

export interface FaultInjectorOptions {
  /** Seeds every random decision; the same seed and call sequence inject the same faults. */
  readonly seed: number;
  /** Default rates for every command. */
  readonly rates?: FaultRates;
  /** Rates per command name, replacing `rates` for that command. */
  readonly commandRates?: Readonly<Record<string, FaultRates>>;
  /** Deterministic faults, checked before the random schedule. */
  readonly rules?: readonly FaultRule[];
  /** Injected delays are uniform in [min, max] milliseconds. */
  readonly delayMs?: readonly [number, number];
}

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly command: string;
  /** 1-based index of the call within its invocation. */
  readonly call: number;
}

/** One command's result, for observers (e.g. the UploadId of every CreateMultipartUpload). */
export interface CallObservation {
  readonly command: string;
  readonly input: unknown;
  readonly output: unknown;
  /** The invocation that made the call; undefined outside `invoke`. */
  readonly invocation: number | undefined;
  /** The attempt whose response a `lost-response` fault dropped (the SDK sent the request again). */
  readonly lost: boolean;
}

/** The outcome of one simulated Lambda invocation. */
export interface Invocation<T> {
  readonly id: number;
  readonly label: string;
  readonly value?: T;
  /** What `run` threw, if anything (the BITS handler never throws; a sweeper may). */
  readonly error?: unknown;
  readonly faults: readonly FaultRecord[];
  /** The invocation died: its answer never reached the front. */
  readonly crashed: boolean;
  /** SDK calls the invocation started (those refused after a crash included). */
  readonly calls: number;
}

/** The error standing for a dying Lambda. Unknown to the adapters, so the handler renders 500 E_FAIL. */
export class InjectedCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InjectedCrash';
  }
}

/** Error codes as the services send them, with the fields the SDK's service exceptions carry. */
const TRANSIENT_ERRORS: Readonly<Record<string, readonly (readonly [string, number])[]>> = {
  S3Client: [
    ['SlowDown', 503],
    ['ServiceUnavailable', 503],
    ['InternalError', 500],
  ],
  DynamoDBClient: [
    ['ThrottlingException', 400],
    ['ProvisionedThroughputExceededException', 400],
    ['InternalServerError', 500],
  ],
};

function serviceError(code: string, status: number, command: string): Error {
  return Object.assign(new Error(`injected ${code} on ${command}`), {
    name: code,
    Code: code,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, attempts: 1, totalRetryDelay: 0 },
  });
}

/** A connection reset: no status, no service code; the SDK's standard retry strategy retries it. */
function networkError(command: string): Error {
  return Object.assign(new Error(`injected connection reset after ${command}`), {
    name: 'TimeoutError',
    code: 'ECONNRESET',
    $metadata: {},
  });
}

/**
 * A response the caller will never see must still be read to its end: an unread GetObject body
 * holds its socket, and enough of them exhaust the client's connection pool (every later call waits).
 */
async function discardBody(output: unknown): Promise<void> {
  const body = (output as { Body?: { transformToByteArray?: () => Promise<Uint8Array> } } | undefined)?.Body;
  await body?.transformToByteArray?.().catch(() => undefined);
}

/** 32-bit mix (murmur3's finalizer) over a list of integers: a stateless, seeded random source. */
function hash(values: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const value of values) {
    h = Math.imul(h ^ (value >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const stringHash = (text: string): number => {
  let h = 0;
  for (let index = 0; index < text.length; index += 1) h = Math.imul(h ^ text.charCodeAt(index), 0x01000193);
  return h >>> 0;
};

interface InvocationState {
  readonly id: number;
  readonly label: string;
  calls: number;
  crashed: boolean;
  readonly faults: FaultRecord[];
}

/** Any SDK v3 client: S3Client and DynamoDBClient (DynamoDBDocumentClient shares the latter's stack). */
interface WithStack {
  // biome-ignore lint/suspicious/noExplicitAny: the stacks of different clients differ only in their input/output unions.
  readonly middlewareStack: MiddlewareStack<any, any>;
}

/**
 * Fault injection for the real SDK clients. Faults are injected only into calls made inside
 * `invoke` (one simulated Lambda invocation, tracked with AsyncLocalStorage so concurrent
 * invocations keep their own crash state); calls outside (test setup, verification) pass untouched.
 *
 * The decision for a call is a hash of (seed, invocation number, call number, command), not a
 * shared random stream, so concurrent invocations do not shift each other's schedule.
 */
export class FaultInjector {
  private readonly storage = new AsyncLocalStorage<InvocationState>();
  private readonly counts = new Map<FaultKind, Map<string, number>>();
  private readonly ruleHits = new Map<FaultRule, number>();
  private readonly lostResponses = new WeakMap<HandlerExecutionContext, 'pending' | 'done'>();
  private readonly observers: ((call: CallObservation) => void)[] = [];
  private invocations = 0;
  private options: FaultInjectorOptions;
  /** When false, no fault is injected (observers still see every call). */
  enabled = true;

  constructor(options: FaultInjectorOptions) {
    this.options = options;
  }

  /**
   * Replaces the schedule (seed, rates, rules) and restarts invocation numbering, so a run's faults
   * depend on its seed only, not on what ran before; the fault counters are kept.
   */
  configure(options: FaultInjectorOptions): void {
    this.options = options;
    this.ruleHits.clear();
    this.invocations = 0;
  }

  /** Adds the injecting middleware to each client's stack. */
  attach(...clients: readonly WithStack[]): void {
    for (const client of clients) {
      client.middlewareStack.add(this.initializeMiddleware(), {
        step: 'initialize',
        priority: 'low',
        name: 'faultInjection',
      });
      // Inside the retry loop: a lost response here is retried by the SDK's own strategy.
      client.middlewareStack.add(this.finalizeMiddleware(), {
        step: 'finalizeRequest',
        priority: 'low',
        name: 'faultInjectionLostResponse',
      });
    }
  }

  /** Calls `observer` after every successful command, faulted or not. */
  observe(observer: (call: CallObservation) => void): void {
    this.observers.push(observer);
  }

  /** Runs `run` as one Lambda invocation. Never throws: errors come back in the outcome. */
  async invoke<T>(label: string, run: () => Promise<T>): Promise<Invocation<T>> {
    this.invocations += 1;
    const state: InvocationState = { id: this.invocations, label, calls: 0, crashed: false, faults: [] };
    const outcome = (extra: { value: T } | { error: unknown }): Invocation<T> => ({
      id: state.id,
      label,
      faults: [...state.faults],
      crashed: state.crashed,
      calls: state.calls,
      ...extra,
    });
    try {
      return outcome({ value: await this.storage.run(state, run) });
    } catch (error) {
      return outcome({ error });
    }
  }

  /** Faults injected so far: kind → command → count. */
  stats(): ReadonlyMap<FaultKind, ReadonlyMap<string, number>> {
    return this.counts;
  }

  /** Faults injected so far by kind. */
  totals(): Record<FaultKind, number> {
    const totals = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
    for (const [kind, byCommand] of this.counts) {
      for (const count of byCommand.values()) totals[kind] += count;
    }
    return totals;
  }

  private record(state: InvocationState, kind: FaultKind, command: string, call: number): void {
    state.faults.push({ kind, command, call });
    const byCommand = this.counts.get(kind) ?? new Map<string, number>();
    byCommand.set(command, (byCommand.get(command) ?? 0) + 1);
    this.counts.set(kind, byCommand);
  }

  private notify(
    command: string,
    input: unknown,
    output: unknown,
    state: InvocationState | undefined,
    lost = false,
  ) {
    for (const observer of this.observers) observer({ command, input, output, invocation: state?.id, lost });
  }

  /** The scripted rule that fires on this call, if any, else the seeded random schedule's verdict. */
  private decide(state: InvocationState, command: string): FaultKind | undefined {
    for (const rule of this.options.rules ?? []) {
      if (rule.command !== undefined && rule.command !== command) continue;
      if (rule.label !== undefined && rule.label !== state.label) continue;
      const hits = (this.ruleHits.get(rule) ?? 0) + 1;
      this.ruleHits.set(rule, hits);
      if (hits === rule.nth) return rule.kind;
    }
    const rates = this.options.commandRates?.[command] ?? this.options.rates ?? {};
    let draw = hash([this.options.seed, state.id, state.calls, stringHash(command)]) / 2 ** 32;
    for (const kind of FAULT_KINDS) {
      const rate = rates[kind] ?? 0;
      if (draw < rate) return kind;
      draw -= rate;
    }
    return undefined;
  }

  private delayFor(state: InvocationState): number {
    const [min, max] = this.options.delayMs ?? [1, 25];
    const draw = hash([this.options.seed, state.id, state.calls, 0xde1a7]) / 2 ** 32;
    return Math.round(min + draw * (max - min));
  }

  private transientError(state: InvocationState, context: HandlerExecutionContext, command: string) {
    const choices = TRANSIENT_ERRORS[context.clientName ?? ''] ?? TRANSIENT_ERRORS.S3Client ?? [];
    const draw = hash([this.options.seed, state.id, state.calls, 0xe4404]);
    const [code, status] = choices[draw % choices.length] ?? ['ServiceUnavailable', 503];
    return serviceError(code, status, command);
  }

  // biome-ignore lint/suspicious/noExplicitAny: shared by clients with different input/output unions.
  private initializeMiddleware(): InitializeMiddleware<any, any> {
    return (next, context) => async (args) => {
      const state = this.storage.getStore();
      const command = context.commandName ?? 'UnknownCommand';
      if (state === undefined || !this.enabled) {
        const result = await next(args);
        this.notify(command, args.input, result.output, state);
        return result;
      }
      state.calls += 1;
      // A dead Lambda makes no more calls.
      if (state.crashed) throw new InjectedCrash(`${command} after the invocation crashed`);
      const call = state.calls;
      const kind = this.decide(state, command);
      if (kind === 'fail-before' || kind === 'fail-before-unknown') {
        this.record(state, kind, command, call);
        throw kind === 'fail-before'
          ? this.transientError(state, context, command)
          : new Error(`injected unexpected failure before ${command}`);
      }
      if (kind === 'delay') {
        this.record(state, kind, command, call);
        await sleep(this.delayFor(state));
      }
      if (kind === 'lost-response') {
        this.record(state, kind, command, call);
        this.lostResponses.set(context, 'pending');
      }
      let result: Awaited<ReturnType<typeof next>>;
      try {
        result = await next(args);
      } catch (error) {
        if (kind === 'crash') {
          this.record(state, kind, command, call);
          state.crashed = true;
          throw new InjectedCrash(`crash after ${command} failed`);
        }
        throw error;
      }
      this.notify(command, args.input, result.output, state);
      if (kind === 'fail-after') {
        this.record(state, kind, command, call);
        await discardBody(result.output);
        throw this.transientError(state, context, command);
      }
      if (kind === 'crash') {
        this.record(state, kind, command, call);
        await discardBody(result.output);
        state.crashed = true;
        throw new InjectedCrash(`crash after ${command}`);
      }
      return result;
    };
  }

  // biome-ignore lint/suspicious/noExplicitAny: shared by clients with different input/output unions.
  private finalizeMiddleware(): FinalizeRequestMiddleware<any, any> {
    return (next, context) => async (args) => {
      if (this.lostResponses.get(context) !== 'pending') return next(args);
      this.lostResponses.set(context, 'done');
      const command = context.commandName ?? 'UnknownCommand';
      const result = await next(args);
      this.notify(command, args.input, result.output, this.storage.getStore(), true);
      await discardBody(result.output);
      throw networkError(command);
    };
  }
}

/** Faults by kind and command as report lines, most frequent first. */
export function formatFaultStats(stats: ReadonlyMap<FaultKind, ReadonlyMap<string, number>>): string[] {
  const lines: string[] = [];
  for (const kind of FAULT_KINDS) {
    const byCommand = stats.get(kind);
    if (byCommand === undefined) continue;
    const entries = [...byCommand.entries()].sort((a, b) => b[1] - a[1]);
    const total = entries.reduce((sum, [, count]) => sum + count, 0);
    const detail = entries
      .map(([command, count]) => `${command.replace(/Command$/, '')} ${count}`)
      .join(', ');
    lines.push(`${kind.padEnd(20)} ${String(total).padStart(6)}  (${detail})`);
  }
  return lines;
}
