import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FromChild, ServerReport, ToChild } from './child-protocol';

const START_TIMEOUT_MS = 60_000;
const ANSWER_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** Every child still running: killed when the bench ends, however it ends. */
const running = new Set<ChildProcess>();

/** Kills every child server at once (SIGKILL): for exit paths that cannot wait. */
export function killAllServers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
process.once('exit', killAllServers);

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  readonly startRss: number;
  /** Zero the counters and take the memory base (after the warm-up). */
  reset(): Promise<void>;
  report(): Promise<ServerReport>;
  /** Asks the child to stop and waits for its exit (it writes its CPU profile then). */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** bench/<entry>.ts */
  readonly entry: 'ours-server' | 'tus-server';
  readonly env: Readonly<Record<string, string>>;
  /** Write V8 CPU profiles of the child into this directory, named `<profileName>.<thread>.cpuprofile`. */
  readonly cpuProfileDir?: string;
  readonly profileName?: string;
}

/**
 * Node names a profile CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, one per thread (tsx's
 * loader thread writes one too): give the child's the scenario's name once it has exited.
 */
function renameProfiles(dir: string, pid: number, name: string): void {
  for (const file of readdirSync(dir)) {
    const match = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file);
    if (match?.[1] !== String(pid)) continue;
    const thread = match[2] === '0' ? 'main' : `thread${match[2]}`;
    renameSync(join(dir, file), join(dir, `${name}.${thread}.cpuprofile`));
  }
}

/**
 * Starts a server entry in a child node process through tsx's loader, with an IPC channel. The child
 * runs with --expose-gc so it can collect before taking its memory base.
 */
export async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  // Diagnostics only (e.g. "--trace-gc"): node refuses many V8 flags in NODE_OPTIONS.
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '');
  const args = [
    ...extra,
    '--expose-gc',
    '--import',
    tsx,
    ...(options.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`]),
    join(__dirname, `${options.entry}.ts`),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    // The servers print nothing; with diagnostic flags their output goes to the bench's stderr.
    stdio: ['ignore', extra.length > 0 ? process.stderr : 'ignore', 'pipe', 'ipc'],
  });
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
  });

  /** The next message of `type` from the child, or an error naming its stderr if it dies first. */
  const next = <T extends FromChild['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<FromChild, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`${options.entry}: no ${type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onMessage = (message: FromChild) => {
        if (message.type === type) done(undefined, message as Extract<FromChild, { type: T }>);
        else if (message.type === 'failed') done(new Error(`${options.entry} failed: ${message.message}`));
      };
      const onExit = (code: number | null) =>
        done(new Error(`${options.entry} exited (${code}) waiting for ${type}: ${stderr.trim()}`));
      const done = (error?: Error, value?: Extract<FromChild, { type: T }>) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (error !== undefined || value === undefined) reject(error);
        else resolve(value);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ask = <T extends FromChild['type']>(message: ToChild, answer: T) => {
    const answered = next(answer, ANSWER_TIMEOUT_MS);
    child.send(message);
    return answered;
  };

  try {
    const ready = await next('ready', START_TIMEOUT_MS);
    return {
      url: ready.url,
      pid: child.pid ?? 0,
      startRss: ready.startRss,
      async reset() {
        await ask({ type: 'reset' }, 'reset-done');
      },
      async report() {
        return (await ask({ type: 'report' }, 'report')).report;
      },
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        if (child.connected) child.send({ type: 'stop' } satisfies ToChild);
        else child.kill('SIGTERM');
        await exited;
        clearTimeout(timer);
        if (options.cpuProfileDir !== undefined && child.pid !== undefined) {
          renameProfiles(options.cpuProfileDir, child.pid, options.profileName ?? options.entry);
        }
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
}
