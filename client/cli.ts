import { Command, CommanderError } from 'commander';
import {
  BitsClientError,
  CancelledError,
  NetworkError,
  ProtocolError,
  ServerRefusedError,
  UsageError,
} from './errors';
import { formatHresult } from './hresult';
import { barReporter, plainReporter, type Reporter, silentReporter } from './progress';
import { type SmokeReport, smokeTest } from './smoke';
import { formatBytes, formatDuration, parseByteSize } from './units';
import { DEFAULT_FRAGMENT_SIZE, type UploadResult, uploadFile } from './upload';
import type { Credentials } from './url';

/** Exit codes (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** A bug: an error that is not one of ours. */
  internal: 1,
  usage: 2,
  refused: 3,
  network: 4,
  cancelled: 130,
} as const;

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Fires on Ctrl-C. */
  readonly signal?: AbortSignal;
}

export const ENV = { user: 'BITS_UPLOAD_USER', password: 'BITS_UPLOAD_PASSWORD' } as const;

interface CommonOptions {
  readonly user?: string;
  readonly password?: string;
  readonly basicUpfront?: boolean;
  readonly insecure?: boolean;
  readonly json?: boolean;
  readonly retries: string;
}

interface UploadCommandOptions extends CommonOptions {
  readonly fragmentSize: string;
  readonly quiet?: boolean;
  readonly replyFile?: string;
}

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof BitsClientError)) return EXIT.internal;
  switch (error.kind) {
    case 'usage':
      return EXIT.usage;
    case 'refused':
    case 'protocol':
      return EXIT.refused;
    case 'network':
      return EXIT.network;
    case 'cancelled':
      return EXIT.cancelled;
  }
}

/** The error as JSON for `--json` output: HRESULTs in their 0x spelling. */
export function errorJson(error: unknown): Record<string, unknown> {
  if (error instanceof ServerRefusedError) {
    return {
      type: error.name,
      message: error.message,
      packetType: error.packetType,
      status: error.status,
      hresult: formatHresult(error.hresult),
      hresultName: error.hresultName ?? null,
      hresultFrom: error.hresultFrom,
      context: error.context === undefined ? null : `0x${error.context.toString(16).toUpperCase()}`,
    };
  }
  if (error instanceof ProtocolError) {
    return { type: error.name, message: error.message, packetType: error.packetType, status: error.status };
  }
  if (error instanceof NetworkError) {
    const cause = error.cause instanceof BitsClientError ? errorJson(error.cause) : null;
    return { type: error.name, message: error.message, code: error.code ?? null, cause };
  }
  if (error instanceof Error) return { type: error.name, message: error.message };
  return { type: 'Error', message: String(error) };
}

function parseRetries(raw: string): number {
  if (!/^\d{1,4}$/.test(raw))
    throw new UsageError(`--retries must be a whole number from 0 to 9999, got "${raw}"`);
  return Number(raw);
}

/** --user/--password, else the environment; both or neither. */
function resolveCredentials(options: CommonOptions, env: CliIo['env']): Credentials | undefined {
  const user = options.user ?? env[ENV.user];
  const password = options.password ?? env[ENV.password];
  if (user === undefined && password === undefined) return undefined;
  if (user === undefined || password === undefined) {
    throw new UsageError(
      `Basic authentication needs both a user and a password (--user/--password or ${ENV.user}/${ENV.password})`,
    );
  }
  return { user, password };
}

function addCommonOptions(command: Command): Command {
  return command
    .option('-u, --user <name>', `user for Basic authentication (default: $${ENV.user})`)
    .option('-p, --password <password>', `password for Basic authentication (default: $${ENV.password})`)
    .option('--basic-upfront', 'send Basic credentials with the first packet instead of after a 401')
    .option('-k, --insecure', 'accept any TLS certificate (self-signed test servers)')
    .option('--json', 'print a machine-readable JSON summary on stdout, no progress')
    .option('--retries <n>', 'retries for each run of network errors and 5xx answers', '5');
}

function summaryLine(result: UploadResult): string {
  const rate = result.elapsedMs > 0 ? `, ${formatBytes((result.bytes * 1000) / result.elapsedMs)}/s` : '';
  const extras = [
    `${result.fragments} fragment${result.fragments === 1 ? '' : 's'}`,
    `${result.retries} retr${result.retries === 1 ? 'y' : 'ies'}`,
    ...(result.restarts > 0 ? [`${result.restarts} session restart(s)`] : []),
    ...(result.replyUrl === undefined || result.reply !== undefined ? [] : [`reply at ${result.replyUrl}`]),
  ];
  const reply =
    result.reply === undefined
      ? ''
      : `reply: ${formatBytes(result.reply.bytes)} written to ${result.reply.file} (sha256 ${result.reply.sha256})\n`;
  return `uploaded ${formatBytes(result.bytes)} in ${formatDuration(result.elapsedMs)}${rate}: session ${result.sessionId}, ${extras.join(', ')}\n${reply}`;
}

async function uploadCommand(
  file: string,
  url: string,
  options: UploadCommandOptions,
  io: CliIo,
): Promise<number> {
  const json = options.json === true;
  let reporter: Reporter = silentReporter;
  try {
    const fragmentSize = parseByteSize(options.fragmentSize);
    const retries = parseRetries(options.retries);
    const credentials = resolveCredentials(options, io.env);
    if (!json && options.quiet !== true) {
      // The bar redraws with \r and escape codes: only for a person watching a terminal.
      reporter = io.stderr.isTTY === true ? barReporter(io.stderr) : plainReporter(io.stderr);
    }
    if (credentials !== undefined && url.startsWith('http:')) {
      reporter.line('warning: Basic credentials over plain http can be read by anyone on the path');
    }
    // Said once the first packet is under way, i.e. after the options and the file were accepted.
    let announced = false;
    const announce = (): void => {
      if (announced) return;
      announced = true;
      reporter.line(`uploading ${file} to ${url} (fragments of ${formatBytes(fragmentSize)})`);
    };
    const result = await uploadFile({
      url,
      file,
      fragmentSize,
      retry: { retries },
      onProgress: (progress) => {
        announce();
        reporter.progress(progress);
      },
      onEvent: (event) => {
        announce();
        reporter.event(event);
      },
      ...(credentials === undefined ? {} : { credentials }),
      ...(options.basicUpfront === true ? { basicUpfront: true } : {}),
      ...(options.insecure === true ? { insecure: true } : {}),
      ...(options.replyFile === undefined ? {} : { reply: { file: options.replyFile } }),
      ...(io.signal === undefined ? {} : { signal: io.signal }),
    });
    reporter.stop();
    if (json) {
      const bytesPerSecond =
        result.elapsedMs > 0 ? Math.round((result.bytes * 1000) / result.elapsedMs) : null;
      io.stdout.write(`${JSON.stringify({ ok: true, file, ...result, bytesPerSecond })}\n`);
    } else if (options.quiet !== true) {
      io.stdout.write(summaryLine(result));
    }
    return EXIT.ok;
  } catch (error) {
    reporter.stop();
    return reportFailure(error, json, io);
  }
}

function reportFailure(error: unknown, json: boolean, io: CliIo): number {
  const code = exitCodeFor(error);
  const message =
    error instanceof CancelledError
      ? 'cancelled'
      : code === EXIT.internal && error instanceof Error
        ? (error.stack ?? error.message)
        : error instanceof Error
          ? error.message
          : String(error);
  io.stderr.write(`bits-upload: error: ${message}\n`);
  if (json) io.stdout.write(`${JSON.stringify({ ok: false, exitCode: code, error: errorJson(error) })}\n`);
  return code;
}

function smokeText(report: SmokeReport): string {
  const lines = [`BITS smoke test of ${report.url}`];
  for (const packet of report.packets) {
    const status =
      packet.status === undefined ? `error: ${packet.error ?? 'no answer'}` : String(packet.status);
    lines.push(
      `  ${packet.packetType.padEnd(16)} ${status.padEnd(5)} ${packet.rttMs.toFixed(1).padStart(8)} ms`,
    );
  }
  const passes =
    report.passesBitsPost === undefined ? 'unknown (no answer)' : report.passesBitsPost ? 'yes' : 'no';
  lines.push(`Front passes BITS_POST: ${passes}`);
  if (report.protocol !== undefined) lines.push(`Negotiated protocol: ${report.protocol} (BITS 1.5 Upload)`);
  lines.push(`Result: ${report.verdict}`);
  if (report.ok) lines.push(`Left on the server: ${report.url} (${report.bytes} bytes)`);
  if (report.advice !== undefined) lines.push(`Advice: ${report.advice}`);
  return `${lines.join('\n')}\n`;
}

async function smokeCommand(url: string, options: CommonOptions, io: CliIo): Promise<number> {
  const json = options.json === true;
  try {
    const credentials = resolveCredentials(options, io.env);
    const report = await smokeTest({
      url,
      retry: { retries: parseRetries(options.retries) },
      ...(credentials === undefined ? {} : { credentials }),
      ...(options.basicUpfront === true ? { basicUpfront: true } : {}),
      ...(options.insecure === true ? { insecure: true } : {}),
      ...(io.signal === undefined ? {} : { signal: io.signal }),
    });
    const code = report.ok ? EXIT.ok : report.error === undefined ? EXIT.refused : exitCodeFor(report.error);
    if (json) {
      const { error, ...rest } = report;
      io.stdout.write(
        `${JSON.stringify({ ...rest, exitCode: code, error: error === undefined ? null : errorJson(error) })}\n`,
      );
    } else {
      io.stdout.write(smokeText(report));
    }
    return code;
  } catch (error) {
    return reportFailure(error, json, io);
  }
}

/** The program; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command('bits-upload')
    .description('Upload a file to a BITS upload server (BITS_POST, BITS 1.5) the way Windows BITS does.')
    .version('0.1.0')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(bits-upload --help shows the usage)')
    .argument('<file>', 'local file to upload')
    .argument('<url>', 'destination URL, the remote file name (http:// or https://)')
    .option(
      '--fragment-size <size>',
      'bytes per Fragment: 1048576, 512KiB, 4MiB (KB = KiB = 1024 bytes; at least 5KiB)',
      `${DEFAULT_FRAGMENT_SIZE / (1024 * 1024)}MiB`,
    )
    .option(
      '--reply-file <path>',
      "upload-reply job: download the server application's reply (BITS-Reply-URL) to this file before Close-Session",
    )
    .option('-q, --quiet', 'no progress, logs or summary: only errors');
  addCommonOptions(program);
  program.addHelpText(
    'after',
    [
      '',
      'Exit codes: 0 uploaded, 2 usage error, 3 refused by the server or its application (context 0x7),',
      '4 network failure or gave up, 130 cancelled.',
      '',
      'Upload-reply: with --reply-file the Ack of the final Fragment must carry BITS-Reply-URL; the reply is',
      'fetched with Range GETs (resumed after a broken connection), renamed into place when whole, then',
      'Close-Session is sent. --json reports it as "reply": {url, file, bytes, sha256, requests, resumes}.',
    ].join('\n'),
  );
  program.action(async (file: string, url: string, options: UploadCommandOptions) => {
    exitCode = await uploadCommand(file, url, options, io);
  });
  const smoke = program
    .command('smoke')
    .description(
      'check a deployed endpoint: a BITS_POST Ping (does the front pass the method?) and a tiny upload to a unique name under the URL',
    )
    .argument('<url>', 'URL of a directory the server accepts uploads under');
  addCommonOptions(smoke);
  smoke.action(async (url: string, options: CommonOptions) => {
    exitCode = await smokeCommand(url, options, io);
  });
  smoke.exitOverride().configureOutput({
    writeOut: (text) => io.stdout.write(text),
    writeErr: (text) => io.stderr.write(text),
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with 0; every parse error is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw error;
  }
}

/** The bin: process wiring, Ctrl-C → Cancel-Session and exit 130 (a second Ctrl-C exits at once). */
export function runCli(): void {
  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) process.exit(EXIT.cancelled);
    process.stderr.write('\nbits-upload: cancelling (Ctrl-C again to quit at once)\n');
    controller.abort();
  });
  // A closed pipe (`| head`) is not an error of the upload.
  process.stdout.on('error', () => undefined);
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `bits-upload: internal error: ${error instanceof Error ? error.stack : String(error)}\n`,
      );
      process.exitCode = EXIT.internal;
    },
  );
}
