import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import type { LambdaResult } from './report';
import { spread } from './stats';

const ROOT = resolve(__dirname, '..');

/**
 * Requires the bundle and prints how long that took: the module-scope work of a Lambda cold start
 * (config, SDK clients, handler), not the runtime's own boot.
 */
const PROBE = `
const started = process.hrtime.bigint();
const mod = require(process.env.BUNDLE_PATH);
const initMs = Number(process.hrtime.bigint() - started) / 1e6;
if (typeof mod.handler !== 'function') throw new Error('bundle exports no handler');
process.stdout.write(JSON.stringify({ initMs }));
`;

/**
 * Bundles lambda/index.ts the way the CDK stack does (infra/constructs/bits-function.ts
 * LAMBDA_BUNDLING: esbuild, cjs, node22, minified, source map, @aws-sdk/* left to the runtime) and
 * requires it `probes` times, each in a fresh node process.
 */
export async function measureLambda(probes: number): Promise<LambdaResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bits-bench-bundle-'));
  try {
    const outfile = join(dir, 'index.js');
    await build({
      entryPoints: [join(ROOT, 'lambda', 'index.ts')],
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      minify: true,
      sourcemap: true,
      external: ['@aws-sdk/*'],
      outfile,
      logLevel: 'silent',
    });
    const initRunsMs: number[] = [];
    for (let probe = 0; probe < probes; probe++) {
      const output = execFileSync(process.execPath, ['-e', PROBE], {
        env: {
          PATH: process.env.PATH ?? '',
          BUNDLE_PATH: outfile,
          // On Lambda the runtime provides @aws-sdk/*; here the project's copies stand in.
          NODE_PATH: join(ROOT, 'node_modules'),
          BITS_TABLE_NAME: 'bench-table',
          BITS_BUCKET_NAME: 'bench-bucket',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          AWS_LAMBDA_FUNCTION_NAME: 'bits-upload-bench',
        },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 30_000,
      });
      initRunsMs.push((JSON.parse(output) as { initMs: number }).initMs);
    }
    return {
      bundleBytes: statSync(outfile).size,
      sourceMapBytes: statSync(`${outfile}.map`).size,
      initMs: spread(initRunsMs),
      initRunsMs,
      how: `esbuild ${'lambda/index.ts'} --bundle --platform=node --target=node22 --format=cjs --minify --sourcemap --external:@aws-sdk/* (as the CDK stack); module init = time to require() the bundle in a fresh \`node\` ${process.version} process with stub BITS_TABLE_NAME/BITS_BUCKET_NAME and the project's @aws-sdk/* on NODE_PATH (Lambda runs nodejs22.x, so this is indicative), ${probes} processes.`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
