/**
 * `npm run bench`: our BITS server and client, the tus server and client, and lib-storage straight
 * to S3, on the same emulators; writes <out>/latest.json and <out>/latest.md. See bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parseByteSize } from '../client';
import { runBench } from './bench';
import { createProgress } from './progress';
import { renderMarkdown, sizeLabel } from './report';
import { killAllServers } from './server-process';

const positive = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1) throw new InvalidArgumentError('not a whole number ≥ 1');
  return parsed;
};

const byteSize = (value: string): number => {
  try {
    return parseByteSize(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

const program = new Command('npm run bench --')
  .description(
    'Throughput, request and byte amplification, memory and cold start, side by side with tus and lib-storage',
  )
  .option('--quick', 'small files, one run, four scenarios (the smoke test in npm test)')
  .option('--runs <n>', 'runs per scenario (default 3; 1 with --quick)', positive)
  .option(
    '--size <bytes>',
    'size of the large file, e.g. 256MiB (default 256 MiB; 12 MiB with --quick)',
    byteSize,
  )
  .option(
    '--warm-up <bytes>',
    'size of the upload each server makes before it is measured (default 10 MiB; 1 MiB with --quick)',
    byteSize,
  )
  .option('--out <dir>', 'where latest.json and latest.md go', 'bench/results')
  .option('--only <prefixes...>', 'run only scenarios whose id starts with one of these (e.g. ours-1MiB tus)')
  .option('--cpu-prof', 'write V8 CPU profiles of the server processes to <out>/profiles')
  .option('--no-lambda', 'skip bundling the Lambda and timing its cold init');

interface CliOptions {
  readonly quick?: boolean;
  readonly runs?: number;
  readonly size?: number;
  readonly warmUp?: number;
  readonly out: string;
  readonly only?: string[];
  readonly cpuProf?: boolean;
  readonly lambda: boolean;
}

async function main(): Promise<void> {
  const options = program.parse().opts<CliOptions>();
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const cpuProfileDir = options.cpuProf ? join(out, 'profiles') : undefined;
  if (cpuProfileDir !== undefined) mkdirSync(cpuProfileDir, { recursive: true });
  const progress = createProgress();
  // Ctrl-C: the exit hooks kill the server children and DynamoDB Local (local/emulators.ts).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress.stop();
      process.stderr.write(`\n${signal}: stopping\n`);
      killAllServers();
      process.exit(130);
    });
  }
  const report = await runBench({
    quick: options.quick === true,
    runs: options.runs ?? (options.quick ? 1 : 3),
    ...(options.size === undefined ? {} : { size: options.size }),
    ...(options.warmUp === undefined ? {} : { warmUpSize: options.warmUp }),
    ...(options.only === undefined ? {} : { only: options.only }),
    ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }),
    skipLambda: !options.lambda,
    progress,
  });
  progress.stop();
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, 'latest.md'), renderMarkdown(report));
  process.stdout.write(`\n${report.scenarios.length} scenarios; results in ${join(out, 'latest.md')}\n`);
  for (const target of report.targets) {
    const value =
      target.value === null
        ? '–'
        : target.unit === 'bytes'
          ? sizeLabel(target.value)
          : target.value.toFixed(3);
    process.stdout.write(`  ${target.met ? 'met   ' : 'MISSED'}  ${target.name}: ${value}\n`);
  }
}

main().then(
  // The SDK's keep-alive sockets and the emulators' handles are closed by now, but do not wait on strays.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
