import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IConstruct } from 'constructs';
import { LAMBDA_BUNDLING } from '../../infra/constructs/function-parts';
import { CONFIG_ENV } from '../../lambda/config';
import { TRACING_ENV } from '../../lambda/observability/tracing';
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

/**
 * Requires the bundle in a fresh node process and reports how long the module init took, and
 * whether Powertools Tracer was loaded: an enabled tracer has the X-Ray SDK patch node:https.
 */
const PROBE = `
const https = require('node:https');
const request = https.request;
const started = process.hrtime.bigint();
let mod = {};
let error = null;
try {
  mod = require(process.env.BUNDLE_PATH);
} catch (thrown) {
  error = String(thrown && thrown.message);
}
const initMs = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(JSON.stringify({ initMs, handler: typeof mod.handler, error, attempts: globalThis.__networkAttempts, tracer: https.request !== request }));
`;

interface Probe {
  readonly initMs: number;
  readonly handler: string;
  readonly error: string | null;
  readonly attempts: string[];
  readonly tracer: boolean;
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

/** The bundle folder of a function and its environment as deployed (tokens replaced by dummies). */
function deployed(
  synthesized: Synthesized,
  fn: IConstruct,
): { assetDir: string; environment: Record<string, string> } {
  const resource = synthesized.template.toJSON().Resources[logicalId(fn)];
  const variables = resource.Properties.Environment.Variables as Record<string, unknown>;
  return {
    assetDir: path.join(synthesized.app.outdir, resource.Metadata['aws:asset:path'] as string),
    environment: Object.fromEntries(
      Object.entries(variables).map(([name, value]) => [
        name,
        typeof value === 'string' ? value : `dummy-${name}`,
      ]),
    ),
  };
}

/** Cold module init of `runs` fresh processes, sorted, printed with `what`. */
function initTimes(what: string, bundlePath: string, env: Record<string, string>, runs = 3): Probe[] {
  const probes = Array.from({ length: runs }, () => probe(bundlePath, env));
  const times = probes.map((run) => run.initMs).sort((a, b) => a - b);
  console.log(
    `${what} cold module init (require in a fresh node ${process.version}): ${times.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}; median ${times[Math.floor(runs / 2)]?.toFixed(0)} ms`,
  );
  return probes;
}

describe('function bundle', () => {
  let synthesized: Synthesized;
  let assetDir: string;
  let environment: Record<string, string>;
  beforeAll(() => {
    // The real NodejsFunction path: esbuild bundles lambda/index.ts as `cdk synth` does.
    // Asset metadata (what the CLI turns on) names the asset folder on the function resource.
    synthesized = synthesize({}, { bundle: true, context: { 'aws:cdk:enable-asset-metadata': true } });
    // Literal settings as deployed; the table and bucket names are tokens, so dummies stand in.
    ({ assetDir, environment } = deployed(synthesized, synthesized.stack.handler.function));
  }, 120_000);

  it('is minified with a source map and leaves the AWS SDK to the runtime', () => {
    expect(LAMBDA_BUNDLING).toMatchObject({ minify: true, sourceMap: true, target: 'node22' });
    expect(fs.readdirSync(assetDir).sort()).toEqual(['index.js', 'index.js.map']);
    const code = fs.readFileSync(path.join(assetDir, 'index.js'), 'utf8');
    expect(code).toMatch(/require\("@aws-sdk\/client-s3"\)/);
    expect(code).toMatch(/require\("@aws-sdk\/client-dynamodb"\)/);
    // Minified: a few dozen lines at most (template literals keep their line breaks), not thousands.
    expect(code.split('\n').length).toBeLessThan(50);
  });

  it('stays within its 300 KB budget, Powertools Tracer included (prints its size)', () => {
    const bytes = fs.statSync(path.join(assetDir, 'index.js')).size;
    const mapBytes = fs.statSync(path.join(assetDir, 'index.js.map')).size;
    console.log(
      `function bundle: index.js ${(bytes / 1024).toFixed(1)} KB, index.js.map ${(mapBytes / 1024).toFixed(1)} KB`,
    );
    expect(bytes).toBeGreaterThan(10 * 1024);
    expect(bytes).toBeLessThan(300 * 1024);
  });

  it('initializes without touching the network or loading the tracer (prints the cold init time)', () => {
    expect(environment[TRACING_ENV]).toBeUndefined();
    for (const run of initTimes('function', path.join(assetDir, 'index.js'), environment)) {
      expect(run.error).toBeNull();
      expect(run.handler).toBe('function');
      expect(run.attempts).toEqual([]);
      expect(run.tracer).toBe(false);
      expect(run.initMs).toBeLessThan(5_000);
    }
    expect(environment[CONFIG_ENV.tableName]).toBe(`dummy-${CONFIG_ENV.tableName}`);
  });

  it('loads Powertools Tracer at init when tracing is on, still without network (prints the init time)', () => {
    // AWS_EXECUTION_ENV: the tracer only switches itself on inside Lambda.
    const traced = { ...environment, [TRACING_ENV]: 'true', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' };
    for (const run of initTimes('function with tracing', path.join(assetDir, 'index.js'), traced)) {
      expect(run.error).toBeNull();
      expect(run.handler).toBe('function');
      expect(run.attempts).toEqual([]);
      expect(run.tracer).toBe(true);
    }
  });

  it('bundles the sweeper the same way, small, and it initializes without network (prints both)', () => {
    const sweeper = deployed(synthesized, synthesized.stack.sweeper.function);
    expect(fs.readdirSync(sweeper.assetDir).sort()).toEqual(['index.js', 'index.js.map']);
    const bytes = fs.statSync(path.join(sweeper.assetDir, 'index.js')).size;
    console.log(`sweeper bundle: index.js ${(bytes / 1024).toFixed(1)} KB`);
    expect(bytes).toBeLessThan(300 * 1024);
    for (const run of initTimes('sweeper', path.join(sweeper.assetDir, 'index.js'), sweeper.environment)) {
      expect(run.error).toBeNull();
      expect(run.handler).toBe('function');
      expect(run.attempts).toEqual([]);
      expect(run.tracer).toBe(false);
    }
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
