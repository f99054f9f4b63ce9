import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload as S3Upload } from '@aws-sdk/lib-storage';
import { type HttpRequest as TusRequest, Upload as TusUpload } from 'tus-js-client';
import { uploadFile } from '../client';

/** One upload as the client saw it. */
export interface ClientRun {
  /** From the first request to the last answer, as the client's caller sees it. */
  readonly elapsedMs: number;
  /** Data requests sent: BITS Fragments, tus PATCHes, S3 parts (lib-storage). */
  readonly dataRequests: number;
  /** Round trip of each data request, in ms, measured by the client (undefined for lib-storage). */
  readonly requestMs: readonly number[];
  /** Where the object ended up in the bucket. */
  readonly key: string;
}

export type Progress = (bytesDone: number) => void;

/** Our client library, one Fragment at a time, as Windows BITS sends them. */
export async function uploadWithOurClient(
  serverUrl: string,
  name: string,
  file: string,
  fragmentSize: number,
  onProgress: Progress,
): Promise<ClientRun> {
  const requestMs: number[] = [];
  const started = performance.now();
  const result = await uploadFile({
    url: `${serverUrl}/bench/${name}`,
    file,
    fragmentSize,
    // A benchmark must not hide failures behind retries: any retry shows up in the result and fails the run.
    retry: { retries: 0 },
    onProgress: (progress) => onProgress(progress.bytesAcked),
    onEvent: (event) => {
      if (event.type === 'packet' && event.packetType === 'Fragment') requestMs.push(event.rttMs);
    },
  });
  const elapsedMs = performance.now() - started;
  if (result.retries > 0 || result.restarts > 0 || result.bytesSent !== result.bytes) {
    throw new Error(
      `${name}: ${result.retries} retries, ${result.restarts} restarts, ${result.bytesSent} bytes sent`,
    );
  }
  return { elapsedMs, dataRequests: result.fragments, requestMs, key: `uploads/bench/${name}` };
}

/** tus-js-client (Node) against the tus server, `chunkSize` bytes per PATCH, no retries. */
export async function uploadWithTus(
  endpoint: string,
  name: string,
  file: string,
  chunkSize: number,
  onProgress: Progress,
): Promise<ClientRun> {
  const requestMs: number[] = [];
  const sentAt = new Map<TusRequest, number>();
  let patches = 0;
  const started = performance.now();
  const url = await new Promise<string>((resolve, reject) => {
    // tus-js-client reads an fs.ReadStream that has a path by ranges (its FileSource); its typings
    // list only browser sources and Buffer.
    const source = createReadStream(file) as unknown as Buffer;
    const upload = new TusUpload(source, {
      endpoint,
      chunkSize,
      retryDelays: null,
      storeFingerprintForResuming: false,
      metadata: { filename: name },
      onBeforeRequest: (request) => {
        sentAt.set(request, performance.now());
      },
      onAfterResponse: (request) => {
        const sent = sentAt.get(request);
        sentAt.delete(request);
        if (request.getMethod() !== 'PATCH' || sent === undefined) return;
        patches += 1;
        requestMs.push(performance.now() - sent);
      },
      onProgress: (bytesSent) => onProgress(bytesSent),
      onSuccess: () => resolve(upload.url ?? ''),
      onError: reject,
    });
    upload.start();
  });
  const elapsedMs = performance.now() - started;
  // The store names the object after the upload id, the last segment of the upload URL.
  const key = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  return { elapsedMs, dataRequests: patches, requestMs, key };
}

/** The ceiling: @aws-sdk/lib-storage straight to S3 with its default queue of 4 parallel parts. */
export async function uploadWithLibStorage(
  s3: S3Client,
  bucket: string,
  name: string,
  file: string,
  partSize: number,
  onProgress: Progress,
): Promise<ClientRun> {
  const key = `lib-storage/${name}`;
  let parts = 0;
  const started = performance.now();
  const upload = new S3Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: createReadStream(file) },
    partSize,
  });
  upload.on('httpUploadProgress', (progress) => {
    parts += 1;
    onProgress(progress.loaded ?? 0);
  });
  await upload.done();
  return { elapsedMs: performance.now() - started, dataRequests: parts, requestMs: [], key };
}
