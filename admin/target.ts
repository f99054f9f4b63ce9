import { Logger } from '@aws-lambda-powertools/logger';
import { type AwsClientOptions, createAwsClients } from '../lambda/adapters/aws-clients';
import { composeDeps } from '../lambda/compose';
import { CONFIG_ENV, type Config, loadConfig } from '../lambda/config';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from '../local/local-server';
import { readState, STATE_FILE } from '../local/state-file';
import type { AdminContext } from './sessions';

/** A wrong or missing option: exit code 2, with the message. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where the session table and bucket live, as the command line says. */
export interface TargetOptions {
  readonly aws?: boolean;
  readonly table?: string;
  readonly bucket?: string;
  readonly region?: string;
  readonly s3Endpoint?: string;
  readonly dynamoEndpoint?: string;
  readonly stateFile?: string;
}

export interface AdminTarget {
  /** One line for people: which back end the command talks to. */
  readonly description: string;
  /** The function's configuration, so discards use the same prefixes and tombstone lifetime. */
  readonly config: Config;
  readonly clientOptions: AwsClientOptions;
}

/** The defaults `npm start` uses. */
const LOCAL_DEFAULTS = { table: 'bits-sessions', bucket: 'bits-uploads' } as const;

type Env = Readonly<Record<string, string | undefined>>;

function configFor(env: Env, table: string, bucket: string): Config {
  return loadConfig({ ...env, [CONFIG_ENV.tableName]: table, [CONFIG_ENV.bucketName]: bucket });
}

/**
 * `--aws`: real AWS with the standard credential chain, table and bucket from the flags or
 * BITS_TABLE_NAME / BITS_BUCKET_NAME. Otherwise emulators: the endpoints from the flags, else from
 * the running local server's state file. Other BITS_* variables (staging prefix, tombstone
 * lifetime) come from the environment, as for the function and `npm start`.
 */
export function resolveTarget(options: TargetOptions, env: Env): AdminTarget {
  if (options.aws) {
    if (options.s3Endpoint !== undefined || options.dynamoEndpoint !== undefined) {
      throw new UsageError('--aws talks to AWS itself; leave out --s3-endpoint and --dynamo-endpoint');
    }
    const table = options.table ?? env[CONFIG_ENV.tableName];
    const bucket = options.bucket ?? env[CONFIG_ENV.bucketName];
    if (!table || !bucket) {
      throw new UsageError(
        `--aws needs --table and --bucket (or ${CONFIG_ENV.tableName} and ${CONFIG_ENV.bucketName})`,
      );
    }
    return {
      description: `AWS: table ${table}, bucket ${bucket}`,
      config: configFor(env, table, bucket),
      clientOptions: options.region === undefined ? {} : { region: options.region },
    };
  }
  const endpoints = emulatorEndpoints(options);
  const table = options.table ?? endpoints.table ?? LOCAL_DEFAULTS.table;
  const bucket = options.bucket ?? endpoints.bucket ?? LOCAL_DEFAULTS.bucket;
  return {
    description: `emulators: DynamoDB ${endpoints.dynamoEndpoint} table ${table}, S3 ${endpoints.s3Endpoint} bucket ${bucket}`,
    config: configFor(env, table, bucket),
    clientOptions: {
      s3Endpoint: endpoints.s3Endpoint,
      dynamoEndpoint: endpoints.dynamoEndpoint,
      region: EMULATOR_REGION,
      credentials: EMULATOR_CREDENTIALS,
    },
  };
}

function emulatorEndpoints(options: TargetOptions) {
  const { s3Endpoint, dynamoEndpoint } = options;
  if (s3Endpoint !== undefined || dynamoEndpoint !== undefined) {
    if (s3Endpoint === undefined || dynamoEndpoint === undefined) {
      throw new UsageError('--s3-endpoint and --dynamo-endpoint go together');
    }
    return { s3Endpoint, dynamoEndpoint };
  }
  const file = options.stateFile ?? STATE_FILE;
  const state = readState(file);
  if (state === undefined) {
    throw new UsageError(
      `no running local server found (${file}): start one with npm start, pass --s3-endpoint and ` +
        '--dynamo-endpoint, or use --aws --table <name> --bucket <name>',
    );
  }
  if (state.dynamoEndpoint === undefined) {
    throw new UsageError(`${file} names no DynamoDB endpoint: restart npm start, or pass both endpoints`);
  }
  return {
    s3Endpoint: state.s3Endpoint,
    dynamoEndpoint: state.dynamoEndpoint,
    table: state.table,
    bucket: state.bucket,
  };
}

export interface OpenAdmin {
  readonly context: AdminContext;
  /** Closes the SDK clients' connections. */
  close(): void;
}

/**
 * Builds the Lambda's own HandlerDeps for the target (composeDeps: same adapters, same config), so
 * `sessions cancel` and `sessions sweep` discard exactly as Cancel-Session does.
 */
export function openAdmin(
  target: AdminTarget,
  options: { readonly now?: () => number; readonly pageSize?: number } = {},
): OpenAdmin {
  const clients = createAwsClients(target.clientOptions);
  const deps = composeDeps(target.config, clients, new Logger({ logLevel: 'SILENT' }));
  return {
    context: {
      deps: options.now === undefined ? deps : { ...deps, now: options.now },
      documents: clients.documents,
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    },
    close() {
      clients.documents.destroy();
      clients.dynamo.destroy();
      clients.s3.destroy();
    },
  };
}
