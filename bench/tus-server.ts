/**
 * Child process: the peer, @tus/server with @tus/s3-store (part size from BENCH_TUS_PART_SIZE) on
 * node:http at 127.0.0.1, writing to the bench's S3 emulator. The store's own S3 client gets the same
 * counting middleware as ours, plus the ListParts shim fauxqs needs (list-parts-shim.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { S3Client } from '@aws-sdk/client-s3';
import { serveParent } from './child-protocol';
import { Counters } from './counters';
import { installListPartsShim } from './list-parts-shim';
import { addSample } from './stats';

const MiB = 1024 * 1024;

serveParent(async () => {
  const s3Endpoint = process.env.BENCH_S3_ENDPOINT;
  const bucket = process.env.BENCH_BUCKET;
  if (s3Endpoint === undefined || bucket === undefined) {
    throw new Error('BENCH_S3_ENDPOINT and BENCH_BUCKET are required');
  }
  const partSize = Number(process.env.BENCH_TUS_PART_SIZE ?? 8 * MiB);
  // Both packages are ESM-only; import() keeps this entry loadable as CommonJS.
  const [{ Server }, { S3Store }] = await Promise.all([import('@tus/server'), import('@tus/s3-store')]);

  /** The store keeps its S3 client protected; the bench needs it to add middleware. */
  class InstrumentedS3Store extends S3Store {
    get s3(): S3Client {
      return this.client;
    }
  }
  const store = new InstrumentedS3Store({
    partSize,
    s3ClientConfig: {
      bucket,
      endpoint: s3Endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    },
  });
  const counters = new Counters();
  counters.attach(store.s3);
  const shim = installListPartsShim(store.s3);
  const tus = new Server({ path: '/files', datastore: store });

  // Timed from the request's arrival to the response's last byte: for PATCH this includes receiving
  // the body, which tus streams through to S3 while it arrives.
  let times: Record<string, number[]> = {};
  const http = createServer((request, response) => {
    const started = performance.now();
    response.once('finish', () => {
      const method = request.method ?? 'unknown';
      addSample(times, method, performance.now() - started);
      // tus answers after its S3 calls for the request (the final PATCH completes the upload first).
      counters.endPhase(method);
    });
    tus.handle(request, response).catch((error: unknown) => {
      process.stderr.write(`tus: ${String(error)}\n`);
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/files`,
    reset: () => {
      counters.reset();
      shim.reset();
      times = {};
    },
    report: () => ({
      s3: counters.snapshot(),
      listPartsAnswered: shim.answered(),
      serverMs: structuredClone(times),
    }),
    stop: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
});
