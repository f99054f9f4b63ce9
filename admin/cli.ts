import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../lambda/config';
import { STATE_FILE } from '../local/state-file';
import { formatCancel, formatSessionDetail, formatSessionList, formatSweep } from './format';
import {
  type AdminContext,
  cancelSession,
  DEFAULT_SWEEP_GRACE_SECONDS,
  listSessions,
  SessionIdError,
  showSession,
  sweepExpired,
} from './sessions';
import { openAdmin, resolveTarget, type TargetOptions, UsageError } from './target';

/** Exit codes (admin/README.md). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface AdminIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Epoch milliseconds; tests move it. */
  readonly now?: () => number;
  /** DynamoDB Scan page size; tests set it small to exercise pagination. */
  readonly pageSize?: number;
}

function seconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a whole number of seconds');
  return Number(value);
}

interface GlobalOptions extends TargetOptions {
  readonly json?: boolean;
}

/** What a command prints and how the process exits. */
interface Outcome {
  readonly json: unknown;
  readonly text: string;
  readonly code: number;
}

function buildProgram(io: AdminIo, run: (action: (context: AdminContext) => Promise<Outcome>) => void) {
  const program = new Command('bits-admin')
    .description('Inspect and clean up BITS upload sessions (DynamoDB table + S3 bucket of the server)')
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--aws', 'use real AWS (standard credential chain); needs --table and --bucket')
    .option('--table <name>', 'DynamoDB session table (default: BITS_TABLE_NAME, or the local server)')
    .option('--bucket <name>', 'S3 bucket (default: BITS_BUCKET_NAME, or the local server)')
    .option('--region <region>', 'AWS region with --aws (default: the credential chain)')
    .option('--s3-endpoint <url>', 'S3 emulator endpoint (with --dynamo-endpoint)')
    .option('--dynamo-endpoint <url>', 'DynamoDB emulator endpoint (with --s3-endpoint)')
    .option('--state-file <file>', `local server state file (default ${STATE_FILE})`)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  program.addHelpText(
    'after',
    '\nWithout --aws or endpoints, the emulators of the running `npm start` are used (its state file).' +
      '\nOther BITS_* variables (BITS_STAGING_PREFIX, BITS_TOMBSTONE_SECONDS) are read as the function reads them.',
  );
  const sessions = program.command('sessions').description('list, show, cancel and sweep upload sessions');
  sessions
    .command('list')
    .description('open sessions with owner, key, progress and age (a Scan of the table)')
    .option('--all', 'also closed and cancelled sessions still remembered (tombstones)')
    .action((options: { all?: boolean }) =>
      run(async (context) => {
        const listed = await listSessions(context, { all: options.all === true });
        return { json: listed, text: formatSessionList(listed), code: EXIT.ok };
      }),
    );
  sessions
    .command('show')
    .description('the session record and its part items')
    .argument('<id>', 'session id, {GUID} or GUID')
    .action((id: string) =>
      run(async (context) => {
        const detail = await showSession(context, id);
        if (detail === undefined) {
          return { json: { id, found: false }, text: `${id}: no such session`, code: EXIT.failed };
        }
        return { json: detail, text: formatSessionDetail(detail), code: EXIT.ok };
      }),
    );
  sessions
    .command('cancel')
    .description('abort the upload like Cancel-Session: multipart upload, staged objects, part items')
    .argument('<id>', 'session id, {GUID} or GUID')
    .action((id: string) =>
      run(async (context) => {
        const result = await cancelSession(context, id);
        const code = result.outcome === 'not-found' ? EXIT.failed : EXIT.ok;
        return { json: result, text: formatCancel(result), code };
      }),
    );
  sessions
    .command('sweep')
    .description('discard open sessions past their expiry, as Cancel-Session would')
    .option('--dry-run', 'only list what would be discarded')
    .option(
      '--grace-seconds <seconds>',
      'only sessions that expired at least this long ago',
      seconds,
      DEFAULT_SWEEP_GRACE_SECONDS,
    )
    .action((options: { dryRun?: boolean; graceSeconds: number }) =>
      run(async (context) => {
        const result = await sweepExpired(context, {
          dryRun: options.dryRun === true,
          graceSeconds: options.graceSeconds,
        });
        const code = result.failed.length > 0 ? EXIT.failed : EXIT.ok;
        return { json: result, text: formatSweep(result), code };
      }),
    );
  return program;
}

/**
 * Runs `bits-admin <args>` (arguments after the command name) and returns the exit code; output
 * goes to io. Nothing here calls process.exit, so tests run it in-process.
 */
export async function runCli(args: readonly string[], io: AdminIo): Promise<number> {
  let pending: Promise<number> | undefined;
  const program = buildProgram(io, (action) => {
    pending = execute(program.opts<GlobalOptions>(), io, action);
  });
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
  if (pending === undefined) {
    io.stderr.write(program.helpInformation());
    return EXIT.usage;
  }
  return pending;
}

async function execute(
  options: GlobalOptions,
  io: AdminIo,
  action: (context: AdminContext) => Promise<Outcome>,
): Promise<number> {
  let admin: ReturnType<typeof openAdmin> | undefined;
  try {
    const target = resolveTarget(options, io.env);
    admin = openAdmin(target, {
      ...(io.now === undefined ? {} : { now: io.now }),
      ...(io.pageSize === undefined ? {} : { pageSize: io.pageSize }),
    });
    const outcome = await action(admin.context);
    if (options.json) {
      io.stdout.write(`${JSON.stringify(outcome.json, null, 2)}\n`);
    } else {
      // Which back end, on stderr: stdout stays the table alone, for grep and friends.
      io.stderr.write(`bits-admin: ${target.description}\n`);
      io.stdout.write(`${outcome.text}\n`);
    }
    return outcome.code;
  } catch (error) {
    const usage =
      error instanceof UsageError || error instanceof SessionIdError || error instanceof ConfigError;
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`bits-admin: ${message}\n`);
    return usage ? EXIT.usage : EXIT.failed;
  } finally {
    admin?.close();
  }
}
