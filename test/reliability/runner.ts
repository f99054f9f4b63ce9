import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type AwsClients, createAwsClients } from '../../lambda/adapters/aws-clients';
import { errorCode, httpStatus } from '../../lambda/adapters/aws-errors';
import { inProcessInvoker } from '../../lambda/adapters/lambda-notification-target';
import { stagingFolder } from '../../lambda/assembler/staging';
import { DynamoDbExpiredSessions } from '../../lambda/cleanup/expired-sessions';
import { createSweeper, DEFAULT_SWEEPER_OPTIONS, type SweepReport } from '../../lambda/cleanup/sweeper';
import { composeDeps } from '../../lambda/compose';
import { S3_MIN_PART_SIZE } from '../../lambda/config';
import { createHandler } from '../../lambda/create-handler';
import type { HandlerDeps } from '../../lambda/handlers/types';
import { type AwsTestEnv, createAwsTestEnv, emulatorEndpoints } from '../helpers/aws-test-env';
import { type Answer, BITS_PROTOCOL, type BitsEventInput, makeBitsEvent } from '../helpers/events';
import {
  type FaultInjector,
  type FaultRates,
  type FaultRule,
  FaultInjector as Injector,
  type Invocation,
} from '../helpers/fault-injection';
import {
  createReliabilityApplication,
  logUniform,
  type NotificationBehaviour,
  prng,
  type ReliabilityApplication,
} from '../helpers/simulated-client';
import { testConfig } from '../helpers/test-deps';

const KiB = 1024;
const MiB = 1024 * KiB;
const PART_SIZE = S3_MIN_PART_SIZE;
/** The shortest session timeout loadConfig accepts. */
const SESSION_TIMEOUT_SECONDS = 60;
const SWEEP_GRACE_SECONDS = 30;
/** The shortest tombstone loadConfig accepts. */
const TOMBSTONE_SECONDS = 60;
const DEFAULT_MAX_FRAGMENT = Math.floor(4.4 * MiB);

/** Client bounds (a real BITS job also gives up eventually). */
const MAX_CONSECUTIVE_5XX = 12;
const MAX_RESTARTS = 6;
const MAX_EXCHANGES = 1500;
const MAX_SWEEPS = 8;

export const HRESULT = {
  E_FAIL: '0x80004005',
  SESSION_NOT_FOUND: '0x8020001F',
  TOO_LARGE: '0x80200020',
} as const;

/** Emulator clients with fault injection (the handler's) and clean ones (setup and verification). */
export interface ReliabilityEnv {
  readonly test: AwsTestEnv;
  readonly clean: AwsClients;
  readonly faulty: AwsClients;
  readonly injector: FaultInjector;
  /** Every CreateMultipartUpload result: key → upload ids with the invocation that created them. */
  readonly uploadsByKey: Map<
    string,
    { readonly uploadId: string; readonly invocation: number | undefined }[]
  >;
  /** Every session record written: key → session ids (from the handler's PutItem calls). */
  readonly sessionsByKey: Map<string, Set<string>>;
  /** Upload ids that a session record names: key → upload ids. */
  readonly recordedUploads: Map<string, Set<string>>;
  /** Sessions whose application answer reached their record (a successful `SET reply` update). */
  readonly repliesRecorded: Set<string>;
  /** Runs so far: each run uploads to a key of its own. */
  runs: number;
  destroy(): Promise<void>;
}

export async function createReliabilityEnv(): Promise<ReliabilityEnv> {
  const test = await createAwsTestEnv('rel');
  // Built as production builds them (standard retries, 3 attempts), on the emulators.
  const faulty = createAwsClients({
    ...emulatorEndpoints(),
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 3,
  });
  const injector = new Injector({ seed: 0 });
  injector.attach(faulty.s3, faulty.dynamo);
  const uploadsByKey: ReliabilityEnv['uploadsByKey'] = new Map();
  const sessionsByKey: ReliabilityEnv['sessionsByKey'] = new Map();
  const recordedUploads: ReliabilityEnv['recordedUploads'] = new Map();
  const repliesRecorded = new Set<string>();
  injector.observe(({ command, input }) => {
    if (command !== 'UpdateItemCommand') return;
    const update = input as { UpdateExpression?: string; Key?: { pk?: unknown } };
    if (update.UpdateExpression?.startsWith('SET reply =') !== true) return;
    const pk = update.Key?.pk;
    const text = typeof pk === 'string' ? pk : (pk as { S?: string } | undefined)?.S;
    if (text?.startsWith('SESSION#') === true) repliesRecorded.add(text.slice('SESSION#'.length));
  });
  injector.observe(({ command, input }) => {
    if (command !== 'PutItemCommand') return;
    const item = (input as { Item?: Record<string, unknown> }).Item;
    if (item?.sk !== 'META' || typeof item.key !== 'string' || typeof item.id !== 'string') return;
    sessionsByKey.set(item.key, (sessionsByKey.get(item.key) ?? new Set()).add(item.id));
    if (typeof item.uploadId === 'string') {
      recordedUploads.set(item.key, (recordedUploads.get(item.key) ?? new Set()).add(item.uploadId));
    }
  });
  injector.observe(({ command, input, output, invocation }) => {
    if (command !== 'CreateMultipartUploadCommand') return;
    const key = (input as { Key?: string }).Key;
    const uploadId = (output as { UploadId?: string } | undefined)?.UploadId;
    if (key === undefined || uploadId === undefined) return;
    uploadsByKey.set(key, [...(uploadsByKey.get(key) ?? []), { uploadId, invocation }]);
  });
  return {
    test,
    clean: test.clients,
    faulty,
    injector,
    uploadsByKey,
    sessionsByKey,
    recordedUploads,
    repliesRecorded,
    runs: 0,
    async destroy() {
      faulty.documents.destroy();
      faulty.dynamo.destroy();
      faulty.s3.destroy();
      await test.destroy();
    },
  };
}

/** What the seeded scenario of one run chose. */
export interface Scenario {
  readonly fileSize: number;
  readonly maxFragmentSize: number;
  readonly fragmentSize: number;
  readonly minFragment: number;
  readonly ending: 'close' | 'cancel' | 'abandon';
  /** Cancel or abandon once this many bytes are acknowledged. */
  readonly endAt: number;
  readonly faults: FaultRates;
  readonly lostAck: number;
  readonly duplicate: number;
  readonly concurrent: number;
  readonly straggler: number;
  readonly overlap: number;
  readonly gap: number;
  readonly ping: number;
  /** Probability per client step of going idle past the session timeout. */
  readonly idle: number;
  /** Upload-reply to an in-process Lambda-style function (every 4th seed), or none. */
  readonly notification?: NotificationBehaviour | undefined;
}

/** Every NOTIFY_EVERY-th seed runs in notification mode. */
const NOTIFY_EVERY = 4;
/** The shortest notification timeout loadConfig accepts is 1 s; 2 s keeps slow answers in time. */
const NOTIFICATION_TIMEOUT_SECONDS = 2;
/** Largest upload a by-value notification to a function may carry (MAX_FUNCTION_BY_VALUE_BYTES). */
const MAX_BY_VALUE = 4 * MiB;

/**
 * The application's behaviour in notification runs, from its own generator so that the draws of
 * the rest of the scenario (and so runs without notifications) stay as they were.
 */
function chooseNotification(seed: number, fileSize: number): NotificationBehaviour | undefined {
  if (seed % NOTIFY_EVERY !== NOTIFY_EVERY - 1) return undefined;
  const random = prng(seed ^ 0x6e07_1f1e);
  const byValue = random() < 0.5 && fileSize <= MAX_BY_VALUE;
  return {
    type: byValue ? 'by-value' : 'by-reference',
    throwRate: random() * 0.35,
    slowRate: random() * 0.3,
    slowMs: [20, 250],
    // Rarely past the timeout: the server answers 408 (context 0x7) and the client retries.
    timeoutRate: random() * 0.05,
    timeoutMs: NOTIFICATION_TIMEOUT_SECONDS * 1000 + 300,
  };
}

function chooseScenario(random: () => number): Scenario {
  const sizeClass = random();
  const fileSize =
    sizeClass < 0.08
      ? 0
      : sizeClass < 0.72
        ? logUniform(random, 1, 512 * KiB)
        : sizeClass < 0.85
          ? logUniform(random, 512 * KiB, PART_SIZE)
          : PART_SIZE + 1 + Math.floor(random() * 2 * PART_SIZE);
  // Whatever the sizes, a run stays within a few dozen fragments.
  const minFragment = Math.max(1, Math.ceil(fileSize / 48));
  const maxFragmentSize =
    random() < 0.3
      ? logUniform(random, Math.max(minFragment, KiB), DEFAULT_MAX_FRAGMENT)
      : DEFAULT_MAX_FRAGMENT;
  const fragmentSize = logUniform(random, minFragment, Math.max(minFragment, 4 * MiB));
  const endingDraw = random();
  const ending = endingDraw < 0.75 ? 'close' : endingDraw < 0.87 ? 'cancel' : 'abandon';
  const faulty = random() < 0.8;
  const rate = (max: number) => (faulty ? random() * max : 0);
  return {
    fileSize,
    maxFragmentSize,
    fragmentSize,
    minFragment,
    ending,
    endAt: Math.floor(random() * (fileSize + 1)),
    faults: {
      'fail-before': rate(0.04),
      'fail-before-unknown': rate(0.01),
      'fail-after': rate(0.04),
      'lost-response': rate(0.03),
      delay: rate(0.1),
      crash: rate(0.03),
    },
    lostAck: random() * 0.2,
    duplicate: random() * 0.1,
    concurrent: random() * 0.2,
    straggler: random() * 0.1,
    overlap: random() * 0.15,
    gap: random() * 0.1,
    ping: random() * 0.05,
    idle: random() < 0.3 ? 0.03 : 0,
    notification: undefined,
  };
}

export type RunOutcome = 'completed' | 'cancelled' | 'abandoned' | 'gave-up' | 'refused';

export interface RunResult {
  readonly seed: number;
  readonly scenario: Scenario;
  readonly outcome: RunOutcome;
  readonly invocations: number;
  /** SDK calls the client's requests made (sweeps excluded). */
  readonly sdkCalls: number;
  /** Answers by packet, status and error code, e.g. `Fragment 416`, `Close-Session 503 0x80004005`. */
  readonly answers: ReadonlyMap<string, number>;
  /** 5xx answers of invocations that had a fault injected. */
  readonly backendFault5xx: number;
  /** 5xx answers (other than the protocol's BG_E_* codes) of invocations with no fault injected. */
  readonly clientInput5xx: number;
  readonly restarts: number;
  readonly idlePeriods: number;
  readonly sweeps: number;
  readonly sessions: number;
  /** Bytes of the stored object checked against the source (when the client reported success). */
  readonly bytesVerified: number;
  /** The object is complete at its key although the client did not see the Close succeed. */
  readonly completedUnacknowledged: boolean;
  /** Storage of this run's sessions left after close, cancel and sweeping. */
  readonly orphans: readonly string[];
  /** Sessions whose Close/Cancel/discard left storage for the sweeper's tombstone pass. */
  readonly leftAfterFinish: number;
  /** Multipart uploads no session record refers to (only a lifecycle rule removes them). */
  readonly lifecycleLeftovers: number;
  /** Violations of the protocol or the invariants. */
  readonly anomalies: readonly string[];
  /** Injected crashes the handler swallowed (e.g. in best-effort cleanup) and answered anyway. */
  readonly swallowedCrashes: number;
  /** Calls of the notification function (notification runs only). */
  readonly notifications: number;
  /** Calls in which the function was made to throw or to answer past the timeout. */
  readonly applicationErrorsInjected: number;
  /** Answers with context 0x7 (application errors) the client saw and retried. */
  readonly applicationErrorAnswers: number;
  /** Replies downloaded (GET with ranges) and found equal to the function's answer. */
  readonly repliesVerified: number;
}

/** A clock that moves only when told: a little per request, past the timeout when the client idles. */
class RunClock {
  constructor(public ms: number) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Captures what the handler logs as errors, per exchange, for anomaly reports. */
class CapturingLogger extends Logger {
  readonly storage = new AsyncLocalStorage<string[]>();

  override error(...args: Parameters<Logger['error']>): void {
    this.capture('error', args);
  }

  override warn(...args: Parameters<Logger['warn']>): void {
    this.capture('warn', args);
  }

  private capture(level: string, args: readonly unknown[]): void {
    const [message, ...extra] = args;
    const cause = extra
      .map((item) => {
        const value = (item as { cause?: unknown; error?: unknown } | undefined) ?? {};
        const error = value.cause ?? value.error;
        return error instanceof Error ? `${error.name}: ${error.message}` : '';
      })
      .filter((text) => text !== '')
      .join('; ');
    this.storage.getStore()?.push(`${level} ${String(message)}${cause === '' ? '' : ` (${cause})`}`);
  }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

interface Exchange {
  readonly packet: string;
  readonly answer: Answer;
  readonly invocation: Invocation<Answer>;
  readonly faulted: boolean;
  readonly logs: readonly string[];
  /** The answer's body as bytes. */
  readonly bytes: Buffer;
}

interface ClientSession {
  readonly id: string;
  /** Largest offset any answer of this session acknowledged. */
  maxAcked: number;
  /** The client went idle past the timeout since this session was created. */
  idledOut: boolean;
  /** BITS-Reply-URL of the final fragment's ack (notification runs). */
  replyUrl?: string;
  /** The reply was downloaded (or the download ended for good). */
  replyFetched?: boolean;
}

export interface RunOptions {
  /** Replaces parts of the seeded scenario (deterministic cases pin everything). */
  readonly scenario?: Partial<Scenario>;
  /** Scripted faults, on top of the scenario's random rates. */
  readonly rules?: readonly FaultRule[];
  /** Receives one line per exchange and sweep. */
  readonly trace?: (line: string) => void;
}

/**
 * One randomized run: a BITS client uploads (or cancels, or abandons) one file through the real
 * handler on the emulators while faults are injected into the SDK calls, acks get lost, fragments
 * are duplicated, sent concurrently, overlap or leave gaps, the server shrinks fragments with 413s
 * and the client idles past the session timeout. Then the sweeper runs and every byte of storage
 * the run's sessions used is accounted for.
 */
export async function runOnce(
  env: ReliabilityEnv,
  seed: number,
  options: RunOptions = {},
): Promise<RunResult> {
  const trace = options.trace ?? (() => undefined);
  const random = prng(seed);
  const chosen: Scenario = { ...chooseScenario(random), ...options.scenario };
  // Notification mode for a share of the fully randomized runs (pinned scenarios choose it themselves).
  const scenario: Scenario =
    options.scenario === undefined
      ? { ...chosen, notification: chooseNotification(seed, chosen.fileSize) }
      : chosen;
  const file = randomBytes(scenario.fileSize);
  env.runs += 1;
  const directory = `/rel/${env.runs}-${seed}`;
  const path = `${directory}/file.bin`;
  const key = `uploads${path}`;
  const notification = scenario.notification;
  const application: ReliabilityApplication | undefined =
    notification === undefined
      ? undefined
      : createReliabilityApplication({
          behaviour: notification,
          random: prng(seed ^ 0x5ca1_ab1e),
          expectedSha256: sha256(file),
          recorded: (id) => env.repliesRecorded.has(id),
        });
  const config = testConfig({
    tableName: env.test.tableName,
    bucketName: env.test.bucketName,
    partSize: String(PART_SIZE),
    maxFragmentSize: String(scenario.maxFragmentSize),
    sessionTimeoutSeconds: String(SESSION_TIMEOUT_SECONDS),
    tombstoneSeconds: String(TOMBSTONE_SECONDS),
    logLevel: 'SILENT',
    ...(notification === undefined
      ? {}
      : {
          notificationType: notification.type,
          notificationFunction: 'bits-reliability-application',
          notificationTimeoutSeconds: String(NOTIFICATION_TIMEOUT_SECONDS),
        }),
  });
  // A day ahead of real time: the emulator's TTL never removes a record this run still uses.
  const clock = new RunClock(Date.now() + 24 * 3600 * 1000);
  const logger = new CapturingLogger({ logLevel: 'SILENT' });
  // The same translation as the deployed target (LambdaNotificationTarget), over an in-process invoke.
  const composeOptions = application === undefined ? {} : { invoke: inProcessInvoker(application.fn) };
  const deps: HandlerDeps = {
    ...composeDeps(config, env.faulty, logger, undefined, composeOptions),
    now: clock.now,
  };
  const handler = createHandler(deps);
  const sweeper = createSweeper(
    deps,
    new DynamoDbExpiredSessions(env.faulty.documents, config.tableName, { pageSize: 50 }),
    { ...DEFAULT_SWEEPER_OPTIONS, graceSeconds: SWEEP_GRACE_SECONDS },
  );
  env.injector.configure({ seed, rates: scenario.faults, delayMs: [1, 15], rules: options.rules ?? [] });

  const answers = new Map<string, number>();
  const anomalies: string[] = [];
  let invocations = 0;
  let sdkCalls = 0;
  let backendFault5xx = 0;
  let clientInput5xx = 0;
  let swallowedCrashes = 0;
  let applicationErrorAnswers = 0;
  let repliesVerified = 0;
  let faultsSoFar = 0;
  let crashesSoFar = 0;
  const faultedInvocations = new Set<number>();
  const anomaly = (text: string) => anomalies.push(`seed ${seed}: ${text}`);

  /** One request through one (simulated) Lambda invocation. */
  const exchange = async (packet: string, input: BitsEventInput): Promise<Exchange> => {
    invocations += 1;
    clock.advance(Math.floor(random() * 500));
    const logs: string[] = [];
    const failures = { count: 0 };
    const invocation = await logger.storage.run(logs, () =>
      env.injector.invoke(packet, () =>
        (application?.failures ?? noFailures).run(failures, () =>
          sendDecoded(handler, {
            path,
            ...input,
            headers: { 'BITS-Packet-Type': packet, ...input.headers },
          }),
        ),
      ),
    );
    sdkCalls += invocation.calls;
    const faulted = invocation.crashed || invocation.faults.some((fault) => fault.kind !== 'delay');
    trace(
      `#${invocation.id} ${packet} ${input.headers?.['BITS-Session-Id']?.slice(1, 9) ?? ''} ${input.headers?.['Content-Range'] ?? ''} → ${invocation.value?.status} ${invocation.value?.headers['bits-received-content-range'] ?? ''} ${invocation.value?.headers['bits-session-id']?.slice(1, 9) ?? ''} faults ${JSON.stringify(invocation.faults)} crashed ${invocation.crashed} calls ${invocation.calls} ${logs.join(' | ')}`,
    );
    if (faulted) {
      faultsSoFar += 1;
      faultedInvocations.add(invocation.id);
    }
    if (invocation.crashed) crashesSoFar += 1;
    let answer: Answer | undefined = invocation.value;
    if (answer === undefined) {
      anomaly(`${packet}: the handler threw ${String(invocation.error)}`);
      answer = { status: 502, headers: {}, body: '' };
    }
    if (invocation.crashed && answer.status < 500) {
      // The Lambda died before its answer left: the front answers 502 for it.
      swallowedCrashes += 1;
      answer = { status: 502, headers: {}, body: '' };
    }
    const code = answer.headers['bits-error-code'];
    const tally = `${packet} ${answer.status}${code === undefined ? '' : ` ${code}`}`;
    answers.set(tally, (answers.get(tally) ?? 0) + 1);
    const protocolError = code === HRESULT.SESSION_NOT_FOUND || code === HRESULT.TOO_LARGE;
    if (isApplicationError(answer)) {
      // Context 0x7: the application's failure, relayed. Only a failure made in this very request
      // (the function threw or answered late) or a backend fault may cause one.
      applicationErrorAnswers += 1;
      if (!faulted && failures.count === 0) {
        anomaly(`${tally} (context 0x7) without an application failure or injected fault`);
      }
    } else if (answer.status >= 500 && !protocolError) {
      // A request that died holding the notification claim blocks the session until the claim
      // runs out (upload-reply.ts): later requests wait for its answer, then answer 503 (transient).
      const behindDeadClaim =
        crashesSoFar > 0 &&
        answer.status === 503 &&
        logs.some((line) => line.includes('another request is still notifying the application'));
      if (faulted || behindDeadClaim) backendFault5xx += 1;
      else {
        clientInput5xx += 1;
        anomaly(`${tally} without an injected fault: ${logs.join(' | ') || 'nothing logged'}`);
      }
    }
    const bytes =
      invocation.value !== undefined && answer === invocation.value
        ? invocation.value.bytes
        : Buffer.alloc(0);
    return { packet, answer, invocation, faulted, logs, bytes };
  };

  const isSessionNotFound = (answer: Answer) =>
    answer.status === 500 && answer.headers['bits-error-code'] === HRESULT.SESSION_NOT_FOUND;
  /** A 5xx, or an application error Windows retries (408 and 5xx other than 501 and 505, context 0x7). */
  const is5xx = (answer: Answer) =>
    (answer.status >= 500 && !isSessionNotFound(answer) && !isApplicationError(answer)) ||
    isTransientApplicationError(answer);

  /** Checks a Fragment answer against the protocol; returns the acknowledged offset, if any. */
  const checkFragmentAnswer = (
    result: Exchange,
    session: ClientSession,
    first: number,
    last: number,
    ackedAtLaunch: number,
    bodyLength: number,
  ): number | undefined => {
    const { answer } = result;
    if (answer.status === 200 || answer.status === 416) {
      const received = Number(answer.headers['bits-received-content-range']);
      if (!Number.isSafeInteger(received) || received < 0 || received > scenario.fileSize) {
        anomaly(`Fragment ${first}-${last}: ${answer.status} with BITS-Received-Content-Range ${received}`);
        return undefined;
      }
      if (answer.status === 200 && received <= last) {
        anomaly(`Fragment ${first}-${last}: 200 acknowledging only ${received}`);
      }
      if (answer.status === 416 && received > last) {
        anomaly(`Fragment ${first}-${last}: 416 although ${received} bytes are held`);
      }
      if (received < ackedAtLaunch) {
        anomaly(
          `Fragment ${first}-${last}: acknowledged ${received} after ${ackedAtLaunch} was acknowledged`,
        );
      }
      session.maxAcked = Math.max(session.maxAcked, received);
      return received;
    }
    if (answer.status === 413) {
      if (bodyLength <= scenario.maxFragmentSize) anomaly(`413 for a ${bodyLength}-byte fragment`);
      return undefined;
    }
    if (isSessionNotFound(answer)) {
      if (!session.idledOut && faultsSoFar === 0) {
        anomaly(`Fragment ${first}-${last}: session not found without expiry or faults`);
      }
      return undefined;
    }
    if (isTransientApplicationError(answer)) return undefined;
    if (answer.status >= 500 && !isApplicationError(answer)) return undefined;
    anomaly(
      `Fragment ${first}-${last}: unexpected ${answer.status} ${answer.headers['bits-error-code'] ?? ''}`,
    );
    return undefined;
  };

  /** No object may be visible at the key before Close (invariant 5). */
  const assertNoObjectYet = async (when: string) => {
    const head = await headObject(env, key);
    if (head !== undefined) anomaly(`object visible at ${key} ${when}`);
  };

  const stragglers: Promise<void>[] = [];
  const settleStragglers = async () => {
    await Promise.all(stragglers.splice(0));
  };

  /**
   * Downloads the reply as a BITS download job does: GETs of byte ranges (206), resolved against the
   * upload's directory. 'retry' on a transient answer (the caller backs off and calls again, which
   * starts over), 'gone' when the session no longer serves it (404 after expiry or faults).
   */
  const downloadReply = async (
    session: ClientSession,
    replyUrl: string,
  ): Promise<Buffer | 'retry' | 'gone'> => {
    const chunks: Buffer[] = [];
    let next = 0;
    let total: number | undefined;
    for (let request = 0; request < 64; request += 1) {
      const last = next + logUniform(random, 1, 8 * KiB) - 1;
      const result = await exchange('GET reply', {
        method: 'GET',
        path: `${directory}/${replyUrl}`,
        headers: { 'BITS-Packet-Type': undefined, Range: `bytes=${next}-${last}` },
      });
      const { answer } = result;
      if (answer.status === 206) {
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(answer.headers['content-range'] ?? '');
        const { bytes } = result;
        if (range === null || Number(range[1]) !== next || bytes.length !== Number(range[2]) - next + 1) {
          anomaly(`GET reply ${next}-${last}: 206 with Content-Range ${answer.headers['content-range']}`);
          return 'gone';
        }
        if (total !== undefined && total !== Number(range[3]))
          anomaly('the reply changed size between ranges');
        total = Number(range[3]);
        chunks.push(bytes);
        next += bytes.length;
        if (next >= total) return Buffer.concat(chunks);
      } else if (answer.status === 416 && next === 0 && answer.headers['content-range'] === 'bytes */0') {
        return Buffer.alloc(0);
      } else if (answer.status === 404) {
        if (!session.idledOut && faultsSoFar === 0) anomaly('GET reply: 404 without expiry or faults');
        return 'gone';
      } else if (answer.status >= 500) {
        return 'retry';
      } else {
        anomaly(`GET reply ${next}-${last}: unexpected ${answer.status}`);
        return 'gone';
      }
    }
    anomaly('GET reply: no end after 64 ranges');
    return 'gone';
  };

  const sendFragment = async (session: ClientSession, first: number, length: number) => {
    const body = file.subarray(first, first + length);
    const last = first + length - 1;
    const input: BitsEventInput = {
      body,
      headers: {
        'BITS-Session-Id': session.id,
        'Content-Range': `bytes ${first}-${last}/${scenario.fileSize}`,
      },
    };
    const one = async (): Promise<Exchange & { received: number | undefined }> => {
      const ackedAtLaunch = session.maxAcked;
      const result = await exchange('Fragment', input);
      const received = checkFragmentAnswer(result, session, first, last, ackedAtLaunch, length);
      const replyUrl = result.answer.headers['bits-reply-url'];
      if (received !== undefined && replyUrl !== undefined) {
        if (notification === undefined) anomaly(`BITS-Reply-URL ${replyUrl} without notifications`);
        else if (received !== scenario.fileSize) anomaly(`BITS-Reply-URL on an ack of ${received} bytes`);
        else if (session.replyUrl !== undefined && session.replyUrl !== replyUrl) {
          anomaly(`BITS-Reply-URL changed from ${session.replyUrl} to ${replyUrl}`);
        } else session.replyUrl = replyUrl;
        // The ack names a reply only once it is recorded: the observer of those writes saw it too.
        if (notification !== undefined && !env.repliesRecorded.has(session.id)) {
          anomaly(`BITS-Reply-URL for ${session.id} before any recorded reply was observed`);
        }
      } else if (
        notification !== undefined &&
        result.answer.status === 200 &&
        received === scenario.fileSize
      ) {
        anomaly(`the final fragment's ack carries no BITS-Reply-URL`);
      }
      return { ...result, received };
    };
    const mode = random();
    let primary: Exchange & { received: number | undefined };
    if (mode < scenario.concurrent) {
      // Two invocations of the same fragment at once (a retry racing the original).
      const [a, b] = await Promise.all([one(), one()]);
      primary = random() < 0.5 ? a : b;
    } else if (mode < scenario.concurrent + scenario.straggler) {
      // A copy that arrives late, while the client goes on.
      stragglers.push(one().then(() => undefined));
      primary = await one();
    } else if (mode < scenario.concurrent + scenario.straggler + scenario.duplicate) {
      await one();
      primary = await one();
    } else {
      primary = await one();
    }
    // Lost acks: the client never saw the answer and sends the same fragment again.
    for (let lost = 0; lost < 3 && random() < scenario.lostAck; lost += 1) primary = await one();
    return primary;
  };

  let outcome: RunOutcome | undefined;
  let session: ClientSession | undefined;
  let offset = 0;
  let fragmentSize = Math.min(scenario.fragmentSize, Math.max(scenario.fileSize, 1));
  let consecutive5xx = 0;
  let restarts = 0;
  let idlePeriods = 0;
  let sweeps = 0;
  let closeSucceeded = false;
  let closeAckLost = false;

  const runSweeper = async (): Promise<void> => {
    for (let attempt = 0; attempt <= MAX_SWEEPS; attempt += 1) {
      sweeps += 1;
      // The last attempt runs without faults so that every run ends swept.
      env.injector.enabled = attempt < MAX_SWEEPS;
      const sweep: Invocation<SweepReport> = await env.injector.invoke('sweep', () => sweeper());
      env.injector.enabled = true;
      trace(
        `#${sweep.id} sweep ${JSON.stringify(sweep.value ?? String(sweep.error))} faults ${JSON.stringify(sweep.faults)}`,
      );
      if (sweep.value?.complete === true && !sweep.crashed) return;
      if (attempt === MAX_SWEEPS) anomaly(`the sweeper failed without faults: ${String(sweep.error)}`);
    }
  };

  /** A 5xx: the client pings and retries, up to a bound. Returns false when it gives up. */
  const backOff = async (): Promise<boolean> => {
    consecutive5xx += 1;
    if (consecutive5xx > MAX_CONSECUTIVE_5XX) return false;
    await exchange('Ping', {});
    return true;
  };

  const restart = (): boolean => {
    session = undefined;
    offset = 0;
    restarts += 1;
    return restarts <= MAX_RESTARTS;
  };

  while (outcome === undefined) {
    if (invocations > MAX_EXCHANGES) {
      outcome = 'gave-up';
      break;
    }
    if (random() < scenario.ping) await exchange('Ping', {});
    if (session !== undefined && random() < scenario.idle) {
      // The client goes quiet past the session timeout (nothing is in flight meanwhile).
      await settleStragglers();
      clock.advance((SESSION_TIMEOUT_SECONDS + SWEEP_GRACE_SECONDS + 1 + Math.floor(random() * 30)) * 1000);
      session.idledOut = true;
      idlePeriods += 1;
      if (random() < 0.5) await runSweeper();
    }
    if (session === undefined) {
      const created = await exchange('Create-Session', {
        headers: { 'BITS-Supported-Protocols': BITS_PROTOCOL },
      });
      const { answer } = created;
      const id = answer.headers['bits-session-id'];
      if (answer.status === 200 && id !== undefined) {
        consecutive5xx = 0;
        // A lost ack leaves that session abandoned; the client creates another one.
        if (random() < scenario.lostAck / 2) continue;
        session = { id, maxAcked: 0, idledOut: false };
        offset = 0;
      } else if (answer.status === 403) {
        outcome = 'refused';
      } else if (is5xx(answer)) {
        if (!(await backOff())) outcome = 'gave-up';
      } else {
        anomaly(`Create-Session answered ${answer.status} ${answer.headers['bits-error-code'] ?? ''}`);
        outcome = 'gave-up';
      }
      continue;
    }
    const current: ClientSession = session;
    if (scenario.ending !== 'close' && offset >= scenario.endAt) {
      await settleStragglers();
      if (scenario.ending === 'abandon') {
        outcome = 'abandoned';
        break;
      }
      const cancel = await exchange('Cancel-Session', { headers: { 'BITS-Session-Id': current.id } });
      if (cancel.answer.status === 200) outcome = 'cancelled';
      else if (isSessionNotFound(cancel.answer)) {
        if (!current.idledOut && faultsSoFar === 0) anomaly('Cancel-Session: session not found');
        outcome = 'cancelled';
      } else if (is5xx(cancel.answer)) {
        if (!(await backOff())) outcome = 'gave-up';
      } else {
        anomaly(`Cancel-Session answered ${cancel.answer.status}`);
        outcome = 'gave-up';
      }
      continue;
    }
    if (offset < scenario.fileSize) {
      let first = offset;
      if (offset > 0 && random() < scenario.overlap) first = Math.floor(random() * offset);
      else if (offset + 1 < scenario.fileSize && random() < scenario.gap) {
        first = offset + 1 + Math.floor(random() * Math.min(scenario.fileSize - offset - 1, fragmentSize));
      }
      const wanted =
        random() < 0.5
          ? fragmentSize
          : logUniform(random, Math.min(scenario.minFragment, fragmentSize), fragmentSize);
      const length = Math.max(1, Math.min(wanted, scenario.fileSize - first));
      const result = await sendFragment(current, first, length);
      const { answer } = result;
      if (result.received !== undefined) {
        consecutive5xx = 0;
        offset = result.received;
        // Upload-reply completes the object at the final fragment, before the application is called.
        if (notification === undefined || offset < scenario.fileSize) {
          await assertNoObjectYet(`after a Fragment ack at ${offset}`);
        }
      } else if (answer.status === 413) {
        consecutive5xx = 0;
        if (fragmentSize <= 1) {
          outcome = 'gave-up';
        } else {
          fragmentSize = Math.max(1, Math.floor(Math.min(fragmentSize, length) / 2));
        }
      } else if (isSessionNotFound(answer)) {
        await settleStragglers();
        if (!restart()) outcome = 'gave-up';
      } else if (is5xx(answer)) {
        if (!(await backOff())) outcome = 'gave-up';
      } else {
        outcome = 'gave-up';
      }
      continue;
    }
    // Every byte is acknowledged: close (stragglers first, as a client waits for its requests).
    await settleStragglers();
    if (application !== undefined && current.replyUrl !== undefined && current.replyFetched !== true) {
      // An upload-reply job downloads the reply before it closes the session.
      const fetched = await downloadReply(current, current.replyUrl);
      if (fetched === 'retry') {
        if (!(await backOff())) outcome = 'gave-up';
        continue;
      }
      consecutive5xx = 0;
      current.replyFetched = true;
      if (fetched !== 'gone') {
        const answers = application.answers(current.id);
        if (answers.some((answer) => answer.equals(fetched))) repliesVerified += 1;
        else {
          anomaly(
            `reply of ${current.id} (${fetched.length} bytes) is none of the ${answers.length} answers the function gave`,
          );
        }
      }
    }
    const close = await exchange('Close-Session', { headers: { 'BITS-Session-Id': current.id } });
    if (close.answer.status === 200) {
      consecutive5xx = 0;
      // A lost ack: the client never saw the 200 and closes again (answered like any other Close).
      if (!closeAckLost && random() < scenario.lostAck) {
        closeAckLost = true;
        continue;
      }
      closeSucceeded = true;
      outcome = 'completed';
    } else if (isSessionNotFound(close.answer)) {
      if (!current.idledOut && faultsSoFar === 0) anomaly('Close-Session: session not found');
      if (!restart()) outcome = 'gave-up';
    } else if (is5xx(close.answer)) {
      if (!(await backOff())) outcome = 'gave-up';
    } else {
      anomaly(
        `Close-Session answered ${close.answer.status} ${close.answer.headers['bits-error-code'] ?? ''}`,
      );
      outcome = 'gave-up';
    }
  }
  await settleStragglers();
  // Calls that outlived their request's timeout end before storage is accounted for.
  await application?.settle();
  const finalOutcome: RunOutcome = outcome ?? 'gave-up';
  if (finalOutcome === 'gave-up' && faultsSoFar === 0)
    anomaly('the client gave up without any injected fault');

  // Whatever the client left open expires; the sweeper (faults and all) must clean it up.
  clock.advance((SESSION_TIMEOUT_SECONDS + SWEEP_GRACE_SECONDS + 1) * 1000);
  await runSweeper();
  const check: StorageCheck = {
    key,
    file,
    stagingPrefix: config.stagingPrefix,
    replyPrefix: config.replyPrefix,
    closeSucceeded,
    faultedInvocations,
    anomaly,
  };
  // Storage a Close, Cancel or discard that died half-way left behind (its session is finished,
  // so nothing but the sweeper's tombstone pass will look at it again).
  const beforeTombstones = await checkSessions(env, check);
  // The tombstones expire too; their sweep must leave nothing at all.
  clock.advance((TOMBSTONE_SECONDS + SWEEP_GRACE_SECONDS + 1) * 1000);
  await runSweeper();
  const verified = await verifyStorage(env, check, beforeTombstones.ids);
  if (finalOutcome === 'refused' && !verified.objectMatches)
    anomaly('Create-Session refused but no complete object');
  return {
    seed,
    scenario,
    outcome: finalOutcome,
    invocations,
    sdkCalls,
    answers,
    backendFault5xx,
    clientInput5xx,
    restarts,
    idlePeriods,
    sweeps,
    sessions: verified.sessions,
    bytesVerified: closeSucceeded && verified.objectMatches ? scenario.fileSize : 0,
    completedUnacknowledged: !closeSucceeded && verified.objectMatches,
    orphans: verified.orphans,
    leftAfterFinish: beforeTombstones.leftovers.length,
    lifecycleLeftovers: verified.lifecycleLeftovers,
    anomalies: [...anomalies, ...(application?.anomalies ?? []).map((text) => `seed ${seed}: ${text}`)],
    swallowedCrashes,
    notifications: application?.calls ?? 0,
    applicationErrorsInjected: application?.failuresInjected ?? 0,
    applicationErrorAnswers,
    repliesVerified,
  };
}

/** No application in this run: failures are counted nowhere. */
const noFailures = new AsyncLocalStorage<{ count: number }>();

/** Like events.send, keeping the body's bytes (reply downloads are base64-encoded). */
async function sendDecoded(
  handler: ReturnType<typeof createHandler>,
  input: BitsEventInput,
): Promise<Answer & { readonly bytes: Buffer }> {
  const result = (await handler(makeBitsEvent(input))) as APIGatewayProxyStructuredResultV2;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  const body = result.body ?? '';
  const bytes = Buffer.from(body, result.isBase64Encoded === true ? 'base64' : 'utf8');
  return { status: result.statusCode ?? 0, headers, body, bytes };
}

/** Context 0x7: an error of the upload-reply application, relayed to the client. */
const isApplicationError = (answer: Answer): boolean => answer.headers['bits-error-context'] === '0x7';

/** Application errors a Windows client retries: 408 and 5xx other than 501 and 505. */
const isTransientApplicationError = (answer: Answer): boolean =>
  isApplicationError(answer) &&
  (answer.status === 408 || (answer.status >= 500 && answer.status !== 501 && answer.status !== 505));

async function headObject(env: ReliabilityEnv, key: string): Promise<{ size: number } | undefined> {
  try {
    const head = await env.clean.s3.send(new HeadObjectCommand({ Bucket: env.test.bucketName, Key: key }));
    return { size: head.ContentLength ?? 0 };
  } catch (error) {
    if (errorCode(error) === 'NotFound' || httpStatus(error) === 404) return undefined;
    throw error;
  }
}

interface StorageCheck {
  readonly key: string;
  readonly file: Buffer;
  readonly stagingPrefix: string;
  readonly replyPrefix: string;
  readonly closeSucceeded: boolean;
  /** Invocations that had a fault injected (leaking an upload is legitimate only for those). */
  readonly faultedInvocations: ReadonlySet<number>;
  readonly anomaly: (text: string) => void;
}

/** The run's session ids (every META record written for its key, acknowledged or not). */
function sessionIdsOf(env: ReliabilityEnv, key: string): string[] {
  return [...(env.sessionsByKey.get(key) ?? [])];
}

interface SessionRecord {
  readonly id: string;
  readonly state: string;
  readonly uploadId: string;
}

async function readRecord(env: ReliabilityEnv, id: string): Promise<SessionRecord | undefined> {
  const { Item } = await env.clean.documents.send(
    new GetCommand({
      TableName: env.test.tableName,
      Key: { pk: `SESSION#${id}`, sk: 'META' },
      ConsistentRead: true,
    }),
  );
  return Item === undefined ? undefined : { id, state: String(Item.state), uploadId: String(Item.uploadId) };
}

/** Storage still held by one session: staged objects under its folder and its part records. */
async function heldStorage(env: ReliabilityEnv, stagingPrefix: string, id: string): Promise<string[]> {
  const held: string[] = [];
  const listed = await env.clean.s3.send(
    new ListObjectsV2Command({ Bucket: env.test.bucketName, Prefix: stagingFolder(stagingPrefix, id) }),
  );
  const staged = listed.KeyCount ?? listed.Contents?.length ?? 0;
  if (staged > 0) held.push(`${staged} staged objects`);
  const parts = await env.clean.documents.send(
    new QueryCommand({
      TableName: env.test.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :part)',
      ExpressionAttributeValues: { ':pk': `SESSION#${id}`, ':part': 'PART#' },
      ConsistentRead: true,
    }),
  );
  if ((parts.Count ?? 0) > 0) held.push(`${parts.Count} part items`);
  return held;
}

/**
 * After the sweep of expired sessions: every session must be finished; a closed one must have its
 * object. Returns what finished sessions still hold (for the tombstone pass to remove).
 */
async function checkSessions(
  env: ReliabilityEnv,
  check: StorageCheck,
): Promise<{ ids: string[]; leftovers: string[] }> {
  const ids = sessionIdsOf(env, check.key);
  const leftovers: string[] = [];
  const object = await headObject(env, check.key);
  for (const id of ids) {
    const record = await readRecord(env, id);
    if (record === undefined) continue;
    if (record.state !== 'closed' && record.state !== 'cancelled') {
      check.anomaly(`${id} is ${record.state} after the sweep of expired sessions`);
    }
    if (record.state === 'closed' && object === undefined) check.anomaly(`${id} closed without an object`);
    const held = await heldStorage(env, check.stagingPrefix, id);
    if (held.length > 0) leftovers.push(`${id} (${record.state}): ${held.join(', ')}`);
  }
  return { ids, leftovers };
}

/**
 * Accounts for every byte of storage a run's sessions used (invariants 1, 4, 5) once the sweeper
 * has also passed over the expired tombstones, then removes the run's object so the shared bucket
 * stays small.
 */
async function verifyStorage(
  env: ReliabilityEnv,
  check: StorageCheck,
  ids: readonly string[],
): Promise<{ sessions: number; objectMatches: boolean; orphans: string[]; lifecycleLeftovers: number }> {
  const { clean } = env;
  const bucket = env.test.bucketName;
  const orphans: string[] = [];
  const referenced = new Set<string>();
  for (const id of ids) {
    const record = await readRecord(env, id);
    if (record !== undefined) {
      referenced.add(record.uploadId);
      orphans.push(`${id} (${record.state}): record left after its tombstone expired`);
    }
    const held = await heldStorage(env, check.stagingPrefix, id);
    if (held.length > 0) orphans.push(`${id}: ${held.join(', ')}`);
    // Upload-reply: nothing may be left in the session's reply folder (served or written replies).
    const replies = await clean.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${check.replyPrefix}${id}/` }),
    );
    for (const object of replies.Contents ?? []) orphans.push(`${id}: reply object ${object.Key}`);
    env.repliesRecorded.delete(id);
  }
  env.sessionsByKey.delete(check.key);

  // Every multipart upload ever started for the key: aborting it tells whether it still existed.
  let lifecycleLeftovers = 0;
  const recorded = new Set(env.recordedUploads.get(check.key) ?? []);
  for (const { uploadId, invocation } of env.uploadsByKey.get(check.key) ?? []) {
    let existed = true;
    try {
      await clean.s3.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: check.key, UploadId: uploadId }),
      );
    } catch (error) {
      if (errorCode(error) !== 'NoSuchUpload') throw error;
      existed = false;
    }
    if (!existed) continue;
    if (recorded.has(uploadId) || referenced.has(uploadId)) {
      orphans.push(`multipart upload ${uploadId} of a recorded session`);
    } else {
      // Started by a Create-Session that died before recording it (or by an SDK retry of one).
      lifecycleLeftovers += 1;
      if (invocation === undefined || !check.faultedInvocations.has(invocation)) {
        check.anomaly(`upload ${uploadId} leaked by an invocation without faults`);
      }
    }
  }
  env.uploadsByKey.delete(check.key);
  env.recordedUploads.delete(check.key);

  let objectMatches = false;
  const head = await headObject(env, check.key);
  if (head !== undefined) {
    const object = await clean.s3.send(new GetObjectCommand({ Bucket: bucket, Key: check.key }));
    const body = await object.Body?.transformToByteArray();
    objectMatches = body !== undefined && sha256(body) === sha256(check.file);
    if (!objectMatches) {
      check.anomaly(
        `object at ${check.key} (${body?.length ?? 0} bytes) differs from the ${check.file.length}-byte source`,
      );
    }
    await clean.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: check.key }));
  } else if (check.closeSucceeded) {
    check.anomaly(`Close-Session succeeded but nothing is stored at ${check.key}`);
  }
  return { sessions: ids.length, objectMatches, orphans, lifecycleLeftovers };
}
