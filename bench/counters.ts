import { performance } from 'node:perf_hooks';
import type {
  DeserializeMiddleware,
  HandlerExecutionContext,
  InitializeMiddleware,
  MiddlewareStack,
} from '@smithy/types';

/**
 * What one SDK client sent, counted by middleware on the client itself (never estimated). Keys are
 * command names without the `Command` suffix (`UploadPart`, `UpdateItem`).
 */
export interface ServiceCounts {
  /** HTTP requests, retries included (the counter sits inside the retry loop). */
  readonly requests: Record<string, number>;
  /** Requests answered with HTTP ≥ 400 or not answered at all. */
  readonly errors: Record<string, number>;
  /** Request payload bytes (the decoded length when the SDK sends aws-chunked). */
  readonly bytesSent: Record<string, number>;
  /** Response payload bytes as the Content-Length the service announced. */
  readonly bytesReceived: Record<string, number>;
  /**
   * Milliseconds from handing the signed request to the HTTP handler until the response headers,
   * summed: sending the body, the service's (emulator's) work and the loopback, without the SDK's
   * own work above it. A GetObject body is read after this point and is not included.
   */
  readonly waitMs: Record<string, number>;
  /** DynamoDB only: ConsumedCapacity summed per command (requested with ReturnConsumedCapacity). */
  readonly writeUnits: Record<string, number>;
  readonly readUnits: Record<string, number>;
}

export const emptyCounts = (): ServiceCounts => ({
  requests: {},
  errors: {},
  bytesSent: {},
  bytesReceived: {},
  waitMs: {},
  writeUnits: {},
  readUnits: {},
});

/** Sum over commands (all of them, or those named). */
export const total = (counts: Record<string, number>, names?: readonly string[]): number =>
  Object.entries(counts)
    .filter(([name]) => names === undefined || names.includes(name))
    .reduce((sum, [, value]) => sum + value, 0);

const bump = (counts: Record<string, number>, name: string, by: number): void => {
  counts[name] = (counts[name] ?? 0) + by;
};

export const commandOf = (context: HandlerExecutionContext): string =>
  (context.commandName ?? 'Unknown').replace(/Command$/, '');

/** Any SDK v3 client: both S3Client and DynamoDBClient fit. */
interface WithStack<Input extends object, Output extends object> {
  readonly middlewareStack: MiddlewareStack<Input, Output>;
}

type Headers = Readonly<Record<string, string | undefined>>;

const headersOf = (message: unknown): Headers =>
  typeof message === 'object' && message !== null && 'headers' in message
    ? ((message as { headers: Headers }).headers ?? {})
    : {};

const headerNumber = (headers: Headers, name: string): number | undefined => {
  const value = Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  const parsed = value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
};

/**
 * Payload bytes of a request as sent. With flexible checksums on streaming bodies the SDK sends
 * aws-chunked encoding, whose Content-Length includes chunk framing; the payload is then
 * `x-amz-decoded-content-length`.
 */
export const requestPayloadBytes = (request: unknown): number => {
  const headers = headersOf(request);
  return (
    headerNumber(headers, 'x-amz-decoded-content-length') ?? headerNumber(headers, 'content-length') ?? 0
  );
};

/** Commands whose ConsumedCapacity DynamoDB reports when asked. */
const CAPACITY_COMMANDS: ReadonlySet<string> = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'GetItem',
  'Query',
  'Scan',
  'BatchWriteItem',
  'BatchGetItem',
  'TransactWriteItems',
  'TransactGetItems',
]);

interface Capacity {
  readonly CapacityUnits?: number;
  readonly WriteCapacityUnits?: number;
  readonly ReadCapacityUnits?: number;
}

/** All counts of one client, and the same split by the server request that caused them. */
export interface CountSnapshot {
  readonly total: ServiceCounts;
  /** By phase (packet type or HTTP method) as closed by endPhase(); unclosed requests are absent. */
  readonly phases: Record<string, ServiceCounts>;
}

type CountField = keyof ServiceCounts;

const addInto = (target: ServiceCounts, source: ServiceCounts): void => {
  for (const field of Object.keys(source) as CountField[]) {
    for (const [name, value] of Object.entries(source[field])) bump(target[field], name, value);
  }
};

/**
 * Counts on one or more SDK clients; snapshot() is plain JSON, so it crosses the IPC channel.
 *
 * Attribution to phases relies on the server handling one request at a time (the bench's clients
 * send sequentially): everything counted since the previous endPhase() belongs to the request that
 * ends now. Each server entry calls endPhase() when a request is answered.
 */
export class Counters {
  private all: ServiceCounts = emptyCounts();
  private pending: ServiceCounts = emptyCounts();
  private phases: Record<string, ServiceCounts> = {};

  snapshot(): CountSnapshot {
    return structuredClone({ total: this.all, phases: this.phases });
  }

  /** Forget everything counted so far (after a warm-up). */
  reset(): void {
    this.all = emptyCounts();
    this.pending = emptyCounts();
    this.phases = {};
  }

  /** What was counted since the last call belongs to a request of kind `phase`. */
  endPhase(phase: string): void {
    const counted = this.phases[phase] ?? emptyCounts();
    addInto(counted, this.pending);
    this.phases[phase] = counted;
    this.pending = emptyCounts();
  }

  private bump(field: CountField, name: string, by: number): void {
    bump(this.all[field], name, by);
    bump(this.pending[field], name, by);
  }

  /**
   * Counts every HTTP attempt at the innermost point of the stack (deserialize step, low priority):
   * after serialization, signing and the retry loop, right before the HTTP handler.
   */
  attach<Input extends object, Output extends object>(client: WithStack<Input, Output>): void {
    const middleware: DeserializeMiddleware<Input, Output> = (next, context) => async (args) => {
      const name = commandOf(context);
      this.bump('requests', name, 1);
      this.bump('bytesSent', name, requestPayloadBytes(args.request));
      const started = performance.now();
      try {
        const result = await next(args);
        this.bump('waitMs', name, performance.now() - started);
        const response = result.response as { statusCode?: number } | undefined;
        if ((response?.statusCode ?? 0) >= 400) this.bump('errors', name, 1);
        else this.bump('bytesReceived', name, headerNumber(headersOf(response), 'content-length') ?? 0);
        return result;
      } catch (error) {
        // Connection failures never reach the deserializer; an error status is counted above.
        this.bump('waitMs', name, performance.now() - started);
        this.bump('errors', name, 1);
        throw error;
      }
    };
    client.middlewareStack.add(middleware, {
      step: 'deserialize',
      priority: 'low',
      name: 'benchRequestCounter',
    });
  }

  /**
   * Asks DynamoDB for ReturnConsumedCapacity: 'TOTAL' on item commands and sums what it reports.
   * The option changes only the response, never what is written. Errors (a failed condition) carry
   * no capacity in the SDK's exception, so those are not counted here.
   */
  attachCapacity<Input extends object, Output extends object>(client: WithStack<Input, Output>): void {
    const middleware: InitializeMiddleware<Input, Output> = (next, context) => async (args) => {
      const name = commandOf(context);
      if (!CAPACITY_COMMANDS.has(name)) return next(args);
      const input = { ...args.input, ReturnConsumedCapacity: 'TOTAL' } as Input;
      const result = await next({ ...args, input });
      const reported = (result.output as { ConsumedCapacity?: Capacity | readonly Capacity[] })
        .ConsumedCapacity;
      for (const capacity of Array.isArray(reported) ? reported : reported ? [reported] : []) {
        const units = capacity as Capacity;
        const write = units.WriteCapacityUnits ?? 0;
        const read = units.ReadCapacityUnits ?? 0;
        // DynamoDB Local and on-demand tables may report only the total; attribute it by command.
        const unsplit = write === 0 && read === 0 ? (units.CapacityUnits ?? 0) : 0;
        const isRead = /^(Get|Query|Scan|BatchGet|TransactGet)/.test(name);
        this.bump('writeUnits', name, write + (isRead ? 0 : unsplit));
        this.bump('readUnits', name, read + (isRead ? unsplit : 0));
      }
      return result;
    };
    client.middlewareStack.add(middleware, {
      step: 'initialize',
      priority: 'high',
      name: 'benchConsumedCapacity',
    });
  }
}
