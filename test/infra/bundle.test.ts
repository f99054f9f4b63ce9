import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LAMBDA_BUNDLING } from '../../infra/constructs/bits-function';
import { CONFIG_ENV } from '../../lambda/config';
import { logicalId, type Synthesized, synthesize } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Loaded with `--require` before the bundle: refuses and counts every outgoing connection or DNS
 * lookup, so importing the handler module provably talks to nothing.
 */
const NETWORK_GUARD = `
const net = require('node:net');
const dns = require('node:dns');
globalThis.__networkAttempts = [];
const refuse = (what) => function (...args) {
  globalThis.__networkAttempts.push(what + ' ' + JSON.stringify(args[0] ?? null));
  throw new Error('network access during module init: ' + what);
};
net.Socket.prototype.connect = refuse('connect');
dns.lookup = refuse('dns.lookup');
dns.promises.lookup = refuse('dns.promises.lookup');
`;

/** Requires the bundle in a fresh node process and reports how long the module init took. */
const PROBE = `
const started = process.hrtime.bigint();
let mod = {};
let error = null;
try {
  mod = require(process.env.BUNDLE_PATH);
} catch (thrown) {
  error = String(thrown && thrown.message);
}
const initMs = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(JSON.stringify({ initMs, handler: typeof mod.handler, error, attempts: globalThis.__networkAttempts }));
`;

interface Probe {
  readonly initMs: number;
  readonly handler: string;
  readonly error: string | null;
  readonly attempts: string[];
}

/** Requires `bundlePath` in a fresh node process under the network guard, with `env` as the only environment. */
function probe(bundlePath: string, env: Record<string, string>): Probe {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bits-bundle-'));
  const guard = path.join(dir, 'network-guard.cjs');
  fs.writeFileSync(guard, NETWORK_GUARD);
  const output = execFileSync(process.execPath, ['--require', guard, '--enable-source-maps', '-e', PROBE], {
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      BUNDLE_PATH: bundlePath,
      // On Lambda the runtime provides @aws-sdk/*; here the project's copies stand in.
      NODE_PATH: path.join(ROOT, 'node_modules'),
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_LAMBDA_FUNCTION_NAME: 'bits-upload',
    },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  return JSON.parse(output) as Probe;
}

describe('function bundle', () => {
  let synthesized: Synthesized;
  let assetDir: string;
  let environment: Record<string, string>;
  beforeAll(() => {
    // The real NodejsFunction path: esbuild bundles lambda/index.ts as `cdk synth` does.
    // Asset metadata (what the CLI turns on) names the asset folder on the function resource.
    synthesized = synthesize({}, { bundle: true, context: { 'aws:cdk:enable-asset-metadata': true } });
    const fn = synthesized.template.toJSON().Resources[logicalId(synthesized.stack.handler.function)];
    assetDir = path.join(synthesized.app.outdir, fn.Metadata['aws:asset:path'] as string);
    // Literal settings as deployed; the table and bucket names are tokens, so dummies stand in.
    const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
    environment = Object.fromEntries(
      Object.entries(variables).map(([name, value]) => [
        name,
        typeof value === 'string' ? value : `dummy-${name}`,
      ]),
    );
  }, 60_000);

  it('is minified with a source map and leaves the AWS SDK to the runtime', () => {
    expect(LAMBDA_BUNDLING).toMatchObject({ minify: true, sourceMap: true, target: 'node22' });
    expect(fs.readdirSync(assetDir).sort()).toEqual(['index.js', 'index.js.map']);
    const code = fs.readFileSync(path.join(assetDir, 'index.js'), 'utf8');
    expect(code).toMatch(/require\("@aws-sdk\/client-s3"\)/);
    expect(code).toMatch(/require\("@aws-sdk\/client-dynamodb"\)/);
    expect(code.split('\n').length).toBeLessThan(20);
  });

  it('stays small (prints its size)', () => {
    const bytes = fs.statSync(path.join(assetDir, 'index.js')).size;
    const mapBytes = fs.statSync(path.join(assetDir, 'index.js.map')).size;
    console.log(
      `function bundle: index.js ${(bytes / 1024).toFixed(1)} KB, index.js.map ${(mapBytes / 1024).toFixed(1)} KB`,
    );
    expect(bytes).toBeGreaterThan(10 * 1024);
    expect(bytes).toBeLessThan(1024 * 1024);
  });

  it('initializes without touching the network (prints the cold init time)', () => {
    const runs = [0, 1, 2].map(() => probe(path.join(assetDir, 'index.js'), environment));
    const times = runs.map((run) => run.initMs).sort((a, b) => a - b);
    console.log(
      `function cold module init (require in a fresh node ${process.version}): ${times.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}; median ${times[1]?.toFixed(0)} ms`,
    );
    for (const run of runs) {
      expect(run.error).toBeNull();
      expect(run.handler).toBe('function');
      expect(run.attempts).toEqual([]);
      expect(run.initMs).toBeLessThan(5_000);
    }
    expect(environment[CONFIG_ENV.tableName]).toBe(`dummy-${CONFIG_ENV.tableName}`);
  });

  it('has a network guard that does catch a connection made at import', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bits-bundle-'));
    const chatty = path.join(dir, 'chatty.js');
    fs.writeFileSync(
      chatty,
      "require('node:net').connect(443, '192.0.2.1'); exports.handler = async () => ({});",
    );
    const run = probe(chatty, {});
    expect(run.attempts).toHaveLength(1);
    expect(run.error).toMatch(/network access during module init/);
  });
});
