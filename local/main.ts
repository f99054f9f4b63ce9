import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { CONFIG_ENV, ConfigError, loadConfig } from '../lambda/config';
import { generateSelfSignedCertificate } from './http/self-signed';
import { startLocalServer } from './local-server';
import {
  EXAMPLE_FUNCTION_NAME,
  exampleNotificationFunction,
  startExampleApplication,
} from './notify-example';
import { removeState, STATE_FILE, writeState } from './state-file';

/** Flags that set a BITS_* variable; the environment supplies anything not given here. */
const CONFIG_FLAGS = [
  ['--table <name>', 'DynamoDB table', CONFIG_ENV.tableName],
  ['--bucket <name>', 'S3 bucket', CONFIG_ENV.bucketName],
  ['--key-prefix <prefix>', 'key prefix of finished uploads (default uploads/)', CONFIG_ENV.keyPrefix],
  ['--max-fragment-size <bytes>', 'larger fragments get 413 (default 4.4 MiB)', CONFIG_ENV.maxFragmentSize],
  ['--max-upload-size <bytes>', 'larger files get BG_E_TOO_LARGE (default 5 TiB)', CONFIG_ENV.maxUploadSize],
  ['--part-size <bytes>', 'S3 part size (default 8 MiB)', CONFIG_ENV.partSize],
  ['--session-timeout <seconds>', 'idle sessions expire (default 14 days)', CONFIG_ENV.sessionTimeoutSeconds],
  ['--allow-overwrites', 'replace existing files instead of refusing with 403', CONFIG_ENV.allowOverwrites],
  ['--log-level <level>', 'DEBUG, INFO, WARN, ERROR or SILENT (default INFO)', CONFIG_ENV.logLevel],
  [
    '--notify <type>',
    'upload-reply: none, by-reference or by-value (default none)',
    CONFIG_ENV.notificationType,
  ],
  ['--notify-url <url>', 'upload-reply application as an http(s) URL', CONFIG_ENV.notificationUrl],
  [
    '--notify-function <name>',
    'upload-reply application as a Lambda function (with --aws)',
    CONFIG_ENV.notificationFunction,
  ],
  [
    '--notify-timeout <seconds>',
    'the application must answer within this (default 20)',
    CONFIG_ENV.notificationTimeoutSeconds,
  ],
] as const;

const port = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('not a port');
  return parsed;
};

const program = new Command('npm start --')
  .description('Local BITS upload endpoint on embedded S3 (fauxqs) and DynamoDB Local emulators')
  .option('--port <port>', 'port to listen on', port, 8080)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--data-dir <dir>', "keep DynamoDB Local's data here across restarts (S3 data stays in memory)")
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
  .option('--tls-key <file>', 'PEM private key for --tls-cert')
  .option('--tls-self-signed', 'serve HTTPS with a generated self-signed certificate')
  .option(
    '--aws',
    'use real AWS (standard credential chain) instead of emulators; needs --table and --bucket',
  )
  .option(
    '--s3-endpoint <url>',
    'use this running S3 emulator instead of starting one (with --dynamo-endpoint)',
  )
  .option(
    '--dynamo-endpoint <url>',
    'use this running DynamoDB Local instead of starting one (with --s3-endpoint)',
  )
  .option(
    '--notify-example',
    'start the example upload-reply application on loopback and notify it (by-reference unless --notify says otherwise)',
  )
  .option(
    '--notify-example-function',
    'run the example application as an in-process Lambda-style function (by-reference unless --notify says otherwise)',
  );
for (const [flags, description] of CONFIG_FLAGS) program.option(flags, description);
program.addHelpText(
  'after',
  `\nEvery setting can also come from its environment variable (${Object.values(CONFIG_ENV).join(', ')}).`,
);

function configEnv(options: Record<string, unknown>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    [CONFIG_ENV.tableName]: 'bits-sessions',
    [CONFIG_ENV.bucketName]: 'bits-uploads',
    ...process.env,
  };
  for (const [flags, , variable] of CONFIG_FLAGS) {
    const name = flags
      .split(' ')[0]
      ?.slice(2)
      .replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    const value = name === undefined ? undefined : options[name];
    if (value !== undefined) env[variable] = String(value);
  }
  return env;
}

function tlsOption(options: Record<string, unknown>) {
  if (options.tlsSelfSigned) return generateSelfSignedCertificate();
  if (options.tlsCert === undefined && options.tlsKey === undefined) return undefined;
  if (typeof options.tlsCert !== 'string' || typeof options.tlsKey !== 'string') {
    throw new ConfigError('--tls-cert and --tls-key go together');
  }
  return { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) };
}

function endpointsOption(options: Record<string, unknown>) {
  const { s3Endpoint, dynamoEndpoint } = options;
  if (s3Endpoint === undefined && dynamoEndpoint === undefined) return undefined;
  if (typeof s3Endpoint !== 'string' || typeof dynamoEndpoint !== 'string') {
    throw new ConfigError('--s3-endpoint and --dynamo-endpoint go together');
  }
  return { s3Endpoint, dynamoEndpoint };
}

/**
 * `--notify-example` and `--notify-example-function` set the notification target to the example
 * application (local/notify-example.ts) and the type to by-reference unless one is given.
 */
async function exampleTarget(options: Record<string, unknown>, env: Record<string, string | undefined>) {
  if (options.notifyExample === true && options.notifyExampleFunction === true) {
    throw new ConfigError('--notify-example and --notify-example-function exclude each other');
  }
  if (options.notifyExample !== true && options.notifyExampleFunction !== true) return {};
  const type = env[CONFIG_ENV.notificationType];
  if (type === undefined || type === '' || type === 'none') env[CONFIG_ENV.notificationType] = 'by-reference';
  if (options.notifyExampleFunction === true) {
    env[CONFIG_ENV.notificationFunction] = EXAMPLE_FUNCTION_NAME;
    return { notificationFunction: exampleNotificationFunction() };
  }
  const application = await startExampleApplication();
  env[CONFIG_ENV.notificationUrl] = application.url;
  return { application };
}

async function main(): Promise<void> {
  program.parse();
  const options = program.opts<Record<string, unknown>>();
  const env = configEnv(options);
  const example = await exampleTarget(options, env);
  const config = loadConfig(env);
  const tls = tlsOption(options);
  const endpoints = endpointsOption(options);
  const server = await startLocalServer({
    config,
    host: String(options.host),
    port: Number(options.port),
    aws: options.aws === true,
    ...(typeof options.dataDir === 'string' ? { dataDir: options.dataDir } : {}),
    ...(tls ? { tls } : {}),
    ...(endpoints ? { endpoints } : {}),
    ...(example.notificationFunction ? { notificationFunction: example.notificationFunction } : {}),
  });
  if (server.endpoints) {
    writeState({
      url: server.url,
      s3Endpoint: server.endpoints.s3Endpoint,
      dynamoEndpoint: server.endpoints.dynamoEndpoint,
      table: config.tableName,
      bucket: config.bucketName,
      keyPrefix: config.keyPrefix,
      pid: process.pid,
    });
  }
  const lines = [
    `BITS upload server listening on ${server.url}/`,
    `  Upload to:          ${server.url}/<path/file.ext>  →  s3://${config.bucketName}/${config.keyPrefix}<path/file.ext>`,
    ...(server.endpoints
      ? [
          `  S3 emulator:        ${server.endpoints.s3Endpoint}  (bucket ${config.bucketName}; path-style, any credentials)`,
          `  DynamoDB emulator:  ${server.endpoints.dynamoEndpoint}  (table ${config.tableName})`,
          '  Finished uploads:   npm run ls-uploads -- --sha256',
        ]
      : ['  Storage:            AWS (standard credential chain)']),
    ...(config.notificationType === 'none'
      ? []
      : [
          `  Upload-reply:       ${config.notificationType} → ${config.notificationUrl ?? `function ${config.notificationFunction}`}${example.application || example.notificationFunction ? ' (example application)' : ''}`,
        ]),
    '  PowerShell (on a Windows machine that can reach this address):',
    `    Start-BitsTransfer -TransferType Upload -Source C:\\path\\file.bin -Destination ${server.url}/files/file.bin`,
    '  Stop with Ctrl-C.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const shutdown = (signal: string) => {
    process.stdout.write(`${signal}: stopping\n`);
    removeState();
    Promise.all([server.stop(), example.application?.stop()]).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`npm start: ${message}\n`);
  if (!(error instanceof ConfigError)) process.stderr.write(`(state file ${STATE_FILE} not written)\n`);
  process.exit(1);
});
