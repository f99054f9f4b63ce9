import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { choosePartSize } from '../lambda/assembler/part-size';
import { type Emulators, startEmulators } from '../local/emulators';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from '../local/local-server';
import { ensureBucket, ensureTable } from '../local/provision';
import { Counters } from './counters';
import { findChildProcess, ownCpuMs, processCpuMs } from './cpu';
import { type ClientRun, uploadWithLibStorage, uploadWithOurClient, uploadWithTus } from './drivers';
import { sha256Of, type TestFile, writeRandomFile } from './files';
import { measureLambda } from './lambda-bundle';
import { predict } from './model';
import type { Progress } from './progress';
import {
  type BenchReport,
  computeRatios,
  evaluateTargets,
  type LambdaResult,
  machineInfo,
  percentiles,
  type RunResult,
  type ScenarioFacts,
  sizeLabel,
  summarizeScenario,
} from './report';
import { fullScenarios, KiB, MiB, PART_SIZE, QUICK_SIZE, quickScenarios, type Scenario } from './scenarios';
import { spawnServer } from './server-process';

export interface BenchOptions {
  readonly quick: boolean;
  readonly runs: number;
  /** Size of the large file; undefined: 256 MiB, or QUICK_SIZE with --quick. */
  readonly size?: number;
  /** Size of the warm-up upload; undefined: WARM_UP_SIZE. */
  readonly warmUpSize?: number;
  /** Run only scenarios whose id starts with one of these. */
  readonly only?: readonly string[];
  /** Write V8 CPU profiles of the server processes here. */
  readonly cpuProfileDir?: string;
  /** Skip bundling and init-timing the Lambda. */
  readonly skipLambda?: boolean;
  readonly progress: Progress;
}

export const DEFAULT_SIZE = 256 * MiB;

const TABLE = 'bench-sessions';
const BUCKETS = { ours: 'bench-ours', tus: 'bench-tus', 'lib-storage': 'bench-ceiling' } as const;
const STAGING_PREFIX = 'bits-staging/';
/**
 * The upload each server makes before it is measured, so that every code path has run once (code
 * loaded and compiled, connections open): ours sends 10 MiB in 64 KiB fragments (staged chunks,
 * merges once 32 are staged, whole parts, the final part); tus the same file in 1 MiB chunks (its
 * paths do not depend on the chunk size), lib-storage in 8 MiB parts. --quick uses 1 MiB.
 * Measured alternatives: a 256 KiB warm-up leaves first-time paths (merges, whole parts) to the
 * measured upload, adding up to 30 MiB to its peak RSS; two different warm-ups in a row (10 MiB in
 * 1 MiB fragments, then 256 KiB in 5 KiB) left V8 starting incremental marking at almost every
 * later 4 MiB request (GC 22 % of the server's CPU instead of 5 %).
 */
const WARM_UP_SIZE = { full: 10 * MiB, quick: MiB };
const WARM_UP_CHUNK = { ours: 64 * KiB, tus: MiB, 'lib-storage': PART_SIZE } as const;

const OUR_TIMING =
  "handler time: the handler's own latencyMs log field (Date.now, 1 ms steps), handler entry to ack; the HTTP front has already read the body";
const TUS_TIMING =
  'node:http request arrival to response finish, including the body, which tus streams to S3 as it arrives';

interface Context {
  readonly emulators: Emulators;
  /** DynamoDB Local's java process, for its CPU time. */
  readonly javaPid: number | undefined;
  readonly s3: S3Client;
  readonly files: ReadonlyMap<number, TestFile>;
  readonly warmUp: TestFile;
  readonly options: BenchOptions;
}

export function selectScenarios(options: Pick<BenchOptions, 'quick' | 'size' | 'only'>): Scenario[] {
  const all = options.quick
    ? quickScenarios(options.size ?? QUICK_SIZE)
    : fullScenarios(options.size ?? DEFAULT_SIZE);
  const only = options.only;
  return only === undefined || only.length === 0
    ? all
    : all.filter((scenario) => only.some((prefix) => scenario.id.startsWith(prefix)));
}

/** Runs the selected scenarios on freshly started emulators and returns the report. */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const scenarios = selectScenarios(options);
  if (scenarios.length === 0) throw new Error('no scenario selected');
  const { progress } = options;
  const loadAtStart = loadavg()[0] ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'bits-bench-'));
  // Ctrl-C ends the process through process.exit, past the finally below: the test files go anyway.
  const removeFiles = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeFiles);
  let emulators: Emulators | undefined;
  let s3: S3Client | undefined;
  try {
    const sizes = [...new Set(scenarios.map((scenario) => scenario.fileSize))];
    progress.log(`writing test files: ${sizes.map(sizeLabel).join(', ')} of random bytes`);
    const files = new Map(sizes.map((size) => [size, writeRandomFile(dir, size)] as const));
    const warmUp = writeRandomFile(
      dir,
      options.warmUpSize ?? (options.quick ? WARM_UP_SIZE.quick : WARM_UP_SIZE.full),
    );

    progress.log('starting emulators (fauxqs in this process, DynamoDB Local in a java process)');
    emulators = await startEmulators();
    s3 = new S3Client({
      region: EMULATOR_REGION,
      credentials: EMULATOR_CREDENTIALS,
      endpoint: emulators.s3Endpoint,
      forcePathStyle: true,
    });
    for (const bucket of Object.values(BUCKETS)) await ensureBucket(s3, bucket);

    progress.log('warming up the emulators (their JITs) before anything is measured');
    await warmUpEmulators(s3, emulators.dynamoEndpoint, options.quick ? 20 : 1500);

    const context: Context = { emulators, javaPid: findChildProcess('java'), s3, files, warmUp, options };
    const runs = new Map<Scenario, RunResult[]>(scenarios.map((scenario) => [scenario, []]));
    const total = scenarios.length * options.runs;
    let done = 0;
    // Round robin (run 1 of every scenario, then run 2, …): drift in the machine or the emulators
    // spreads over all scenarios instead of favouring the ones that happen to run last.
    for (let run = 1; run <= options.runs; run++) {
      for (const scenario of scenarios) {
        done += 1;
        const label = `[${done}/${total}] ${scenario.id} run ${run}/${options.runs}`;
        const result = await runOnce(context, scenario, run, label);
        runs.get(scenario)?.push(result);
        progress.endUpload(
          `${label}: ${(result.elapsedMs / 1000).toFixed(2)} s, ${result.throughputMiBs.toFixed(1)} MiB/s` +
            (result.memory ? `, server peak RSS ${sizeLabel(result.memory.peakRss)}` : '') +
            (result.verified ? '' : ' — OBJECT MISMATCH'),
        );
      }
    }
    const results = scenarios.map((scenario) =>
      summarizeScenario(scenario, factsOf(scenario), runs.get(scenario) ?? []),
    );

    let lambda: LambdaResult | null = null;
    if (!options.skipLambda) {
      progress.log('bundling the Lambda and timing its cold module init');
      lambda = await measureLambda(options.quick ? 2 : 5);
    }
    return {
      generatedAt: new Date().toISOString(),
      mode: options.quick ? 'quick' : 'full',
      runsPerScenario: options.runs,
      machine: machineInfo(loadAtStart),
      scenarios: results,
      ratios: computeRatios(results),
      lambda,
      targets: evaluateTargets(results, lambda),
      notes: [
        ...NOTES,
        `Warm-up: ${sizeLabel(warmUp.size)}, ours in ${sizeLabel(WARM_UP_CHUNK.ours)} fragments, tus in ${sizeLabel(WARM_UP_CHUNK.tus)} chunks, lib-storage in ${sizeLabel(WARM_UP_CHUNK['lib-storage'])} parts (at the default 10 MiB ours runs staged chunks, merges, whole parts and the final part).`,
        `All processes share this machine's ${cpus().length} cores: client and fauxqs in the bench process, the server in its own, DynamoDB Local in a JVM. Emulator speed is part of every figure; ratios between systems on the same emulators are the meaningful numbers.`,
      ],
    };
  } finally {
    s3?.destroy();
    await emulators?.stop();
    process.removeListener('exit', removeFiles);
    removeFiles();
  }
}

const NOTES = [
  'Throughput = file size ÷ wall time of the whole upload as the client sees it (Create-Session or POST to the last answer), MiB/s. Each run starts a fresh server process; a warm-up upload runs first and is not counted.',
  'S3 and DynamoDB figures are counted by SDK middleware on the server’s own clients (lib-storage: on the uploading client): one count per HTTP attempt; bytes are request/response payload lengths. “Data phase” counts only requests made while serving Fragment packets (ours) or PATCH requests (tus).',
  'DynamoDB write units are the ConsumedCapacity DynamoDB Local returns when asked (ReturnConsumedCapacity: TOTAL, added by middleware).',
  'fauxqs 1.9.2 has no ListParts; the tus store’s S3 client answers ListParts from the parts it uploaded (bench/list-parts-shim.ts). Those calls cost no request here but would on real S3: they are listed separately.',
  'Server memory: base = RSS after start-up, the warm-up upload, a full GC, 300 ms for V8’s background threads and another full GC; peak = kernel VmHWM reset at the base (clear_refs) and read after the upload. heapUsed/arrayBuffers and V8 young-generation peaks are sampled every 50 ms. Servers run with Node’s default heap flags, as `npm start` does; Lambda’s Node.js runtime bootstrap starts node with --max-semi-space-size = memory ÷ 20 and --max-old-space-size = memory − memory ÷ 10 (51 and 922 MiB at the stack’s 1024 MB), so its young generation may grow larger than here.',
  'S3 checksums: parts carry their CRC32 and staged chunks their SHA-256 (S3 verifies both on receipt; the staged chunk’s request is signed with that SHA-256 instead of a second hash). Against AWS S3 the server also creates uploads with a full-object CRC32 and completes them with the parts’ CRC32s; fauxqs 1.9.2 would complete such a part list as an empty object, so against a custom endpoint (the emulators here) uploads are plain.',
  'The tus S3 store uploads a part as soon as its buffered tail reaches its 5 MiB minimum part size, so at chunks below 5 MiB its parts are about 5 MiB (its preferred 8 MiB is the upper bound).',
];

function factsOf(scenario: Scenario): ScenarioFacts {
  switch (scenario.system) {
    case 'ours': {
      const partSize = choosePartSize(scenario.fileSize, PART_SIZE);
      return {
        partSize,
        dataPhase: 'Fragment',
        serverTiming: OUR_TIMING,
        prediction: predict(scenario.fileSize, scenario.chunkSize, PART_SIZE, !scenario.unbuffered),
        memoryBudget: partSize + 2 * scenario.chunkSize,
      };
    }
    case 'tus':
      return {
        partSize: PART_SIZE,
        dataPhase: 'PATCH',
        serverTiming: TUS_TIMING,
        prediction: null,
        memoryBudget: null,
      };
    case 'lib-storage':
      return {
        partSize: PART_SIZE,
        dataPhase: null,
        serverTiming: null,
        prediction: null,
        memoryBudget: null,
      };
  }
}

async function runOnce(context: Context, scenario: Scenario, run: number, label: string): Promise<RunResult> {
  const file = context.files.get(scenario.fileSize);
  if (file === undefined) throw new Error(`no file of ${scenario.fileSize} bytes`);
  const name = `${scenario.id}-run${run}-${Date.now()}.bin`;
  const progress = context.options.progress;
  const track = (bytes: number) => progress.update(bytes);
  switch (scenario.system) {
    case 'ours':
    case 'tus': {
      const bucket = BUCKETS[scenario.system];
      const server = await spawnServer({
        entry: scenario.system === 'ours' ? 'ours-server' : 'tus-server',
        env: {
          BENCH_S3_ENDPOINT: context.emulators.s3Endpoint,
          BENCH_DYNAMO_ENDPOINT: context.emulators.dynamoEndpoint,
          BENCH_BUCKET: bucket,
          BENCH_TUS_PART_SIZE: String(PART_SIZE),
          BITS_TABLE_NAME: TABLE,
          BITS_BUCKET_NAME: bucket,
          BITS_PART_SIZE: String(PART_SIZE),
          BITS_STAGING_PREFIX: STAGING_PREFIX,
          BITS_LOG_LEVEL: 'SILENT',
          ...(scenario.unbuffered ? { BITS_PART_BUFFER_BYTES: '0' } : {}),
        },
        ...(context.options.cpuProfileDir === undefined
          ? {}
          : { cpuProfileDir: context.options.cpuProfileDir, profileName: `${scenario.id}-run${run}` }),
      });
      const upload = scenario.system === 'ours' ? uploadWithOurClient : uploadWithTus;
      let client: ClientRun;
      let report: Awaited<ReturnType<typeof server.report>>;
      let cpuMs: ReturnType<ReturnType<typeof startCpu>>;
      try {
        const chunk = WARM_UP_CHUNK[scenario.system];
        const warm = await upload(server.url, `warm-up-${name}`, context.warmUp.path, chunk, () => {});
        await removeObjects(context.s3, bucket, [warm.key, `${warm.key}.info`]);
        await server.reset();
        progress.startUpload(label, scenario.fileSize);
        const cpu = startCpu(context);
        client = await upload(server.url, name, file.path, scenario.chunkSize, track);
        cpuMs = cpu();
        report = await server.report();
      } finally {
        await server.stop();
      }
      const leftovers =
        scenario.system === 'ours'
          ? await countObjects(context.s3, bucket, STAGING_PREFIX)
          : (await objectExists(context.s3, bucket, `${client.key}.part`))
            ? 1
            : 0;
      const verified = await verifyObject(context.s3, bucket, client.key, file);
      await removeObjects(context.s3, bucket, [client.key, `${client.key}.info`]);
      const dataPhase = scenario.system === 'ours' ? 'Fragment' : 'PATCH';
      return {
        run,
        elapsedMs: client.elapsedMs,
        throughputMiBs: scenario.fileSize / MiB / (client.elapsedMs / 1000),
        dataRequests: client.dataRequests,
        clientRequestMs: percentiles(client.requestMs),
        serverRequestMs: percentiles(report.serverMs[dataPhase] ?? []),
        s3: report.s3,
        dynamo: report.dynamo ?? null,
        listPartsAnswered: report.listPartsAnswered ?? null,
        memory: report.memory,
        cpuMs: { ...cpuMs, server: report.cpuMs },
        verified,
        leftoverObjects: leftovers,
      };
    }
    case 'lib-storage': {
      const bucket = BUCKETS['lib-storage'];
      const client = new S3Client({
        region: EMULATOR_REGION,
        credentials: EMULATOR_CREDENTIALS,
        endpoint: context.emulators.s3Endpoint,
        forcePathStyle: true,
      });
      const counters = new Counters();
      counters.attach(client);
      try {
        const warm = await uploadWithLibStorage(
          client,
          bucket,
          `warm-up-${name}`,
          context.warmUp.path,
          WARM_UP_CHUNK['lib-storage'],
          () => {},
        );
        await removeObjects(context.s3, bucket, [warm.key]);
        counters.reset();
        progress.startUpload(label, scenario.fileSize);
        const cpu = startCpu(context);
        const result = await uploadWithLibStorage(client, bucket, name, file.path, scenario.chunkSize, track);
        const cpuMs = cpu();
        const counts = counters.snapshot();
        const verified = await verifyObject(context.s3, bucket, result.key, file);
        await removeObjects(context.s3, bucket, [result.key]);
        return {
          run,
          elapsedMs: result.elapsedMs,
          throughputMiBs: scenario.fileSize / MiB / (result.elapsedMs / 1000),
          // lib-storage sends a small file as one PutObject, a large one as parts.
          dataRequests: (counts.total.requests.UploadPart ?? 0) + (counts.total.requests.PutObject ?? 0),
          clientRequestMs: null,
          serverRequestMs: null,
          s3: counts,
          dynamo: null,
          listPartsAnswered: null,
          memory: null,
          cpuMs: { ...cpuMs, server: null },
          verified,
          leftoverObjects: 0,
        };
      } finally {
        client.destroy();
      }
    }
  }
}

/**
 * DynamoDB Local (a JVM) answers several times slower for its first few hundred requests than once its
 * JIT has compiled the hot paths, and fauxqs warms up too: without this the first scenario would pay
 * for it. Runs the request pattern of a staged fragment (conditional update of an item with a staged
 * list, consistent read, 1 MiB object written, read and deleted) `rounds` times.
 */
async function warmUpEmulators(s3: S3Client, dynamoEndpoint: string, rounds: number): Promise<void> {
  const dynamo = new DynamoDBClient({
    region: EMULATOR_REGION,
    credentials: EMULATOR_CREDENTIALS,
    endpoint: dynamoEndpoint,
  });
  try {
    await ensureTable(dynamo, TABLE);
    const Key = { pk: { S: 'BENCH#warm-up' }, sk: { S: 'META' } };
    const staged = {
      L: Array.from({ length: 8 }, (_, index) => ({
        M: { start: { N: String(index) }, key: { S: `${STAGING_PREFIX}warm-up/${index}-${'0'.repeat(40)}` } },
      })),
    };
    await dynamo.send(new PutItemCommand({ TableName: TABLE, Item: { ...Key, n: { N: '0' }, staged } }));
    const body = Buffer.alloc(MiB, 1);
    for (let round = 0; round < rounds; round++) {
      await dynamo.send(new GetItemCommand({ TableName: TABLE, Key, ConsistentRead: true }));
      await dynamo.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key,
          UpdateExpression: 'SET n = :next, staged = :staged',
          ConditionExpression: 'n = :previous',
          ExpressionAttributeValues: {
            ':next': { N: String(round + 1) },
            ':previous': { N: String(round) },
            ':staged': staged,
          },
        }),
      );
      if (round % 5 === 0) {
        const key = `${STAGING_PREFIX}warm-up/${round}`;
        await s3.send(
          new PutObjectCommand({ Bucket: BUCKETS.ours, Key: key, Body: body, ContentLength: body.length }),
        );
        const { Body } = await s3.send(new GetObjectCommand({ Bucket: BUCKETS.ours, Key: key }));
        await Body?.transformToByteArray();
        await removeObjects(s3, BUCKETS.ours, [key]);
      }
    }
    await dynamo.send(new DeleteItemCommand({ TableName: TABLE, Key }));
  } finally {
    dynamo.destroy();
  }
}

/** CPU time of the bench process (client and fauxqs) and of DynamoDB Local from now to the call. */
function startCpu(context: Context): () => { benchProcess: number; dynamoDbLocal: number | null } {
  const bench = ownCpuMs();
  const java = context.javaPid === undefined ? undefined : processCpuMs(context.javaPid);
  return () => {
    const javaNow = context.javaPid === undefined ? undefined : processCpuMs(context.javaPid);
    return {
      benchProcess: ownCpuMs() - bench,
      dynamoDbLocal: java === undefined || javaNow === undefined ? null : javaNow - java,
    };
  };
}

async function verifyObject(s3: S3Client, bucket: string, key: string, file: TestFile): Promise<boolean> {
  const { Body, ContentLength } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (Body === undefined || ContentLength !== file.size) return false;
  return (await sha256Of(Body as AsyncIterable<Uint8Array>)) === file.sha256;
}

/** fauxqs keeps every object in this process's memory: drop each one once it has been checked. */
async function removeObjects(s3: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  await s3.send(
    new DeleteObjectsCommand({
      Bucket: bucket,
      Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
    }),
  );
}

async function countObjects(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return listed.KeyCount ?? listed.Contents?.length ?? 0;
}

async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}
