import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { Command } from 'commander';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from './local-server';
import { readState, STATE_FILE } from './state-file';

interface Listed {
  key: string;
  size: number;
  lastModified?: string;
  metadata: Record<string, string>;
  sha256?: string;
}

async function sha256Of(s3: S3Client, bucket: string, key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of object.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const options = new Command('npm run ls-uploads --')
    .description("Lists finished uploads in the running local server's S3 emulator")
    .option('--sha256', "also print each object's sha256")
    .option('--json', 'print JSON instead of a table')
    .option('--s3-endpoint <url>', `S3 endpoint (default: from ${STATE_FILE})`)
    .option('--bucket <name>', 'bucket (default: from the running server)')
    .option('--prefix <prefix>', 'key prefix (default: from the running server)')
    .parse()
    .opts<{ sha256?: boolean; json?: boolean; s3Endpoint?: string; bucket?: string; prefix?: string }>();
  const state = readState();
  const endpoint = options.s3Endpoint ?? state?.s3Endpoint;
  const bucket = options.bucket ?? state?.bucket;
  if (endpoint === undefined || bucket === undefined) {
    throw new Error(
      `no running local server found (${STATE_FILE}); start one with npm start or pass --s3-endpoint and --bucket`,
    );
  }
  const prefix = options.prefix ?? state?.keyPrefix ?? 'uploads/';
  const s3 = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: EMULATOR_REGION,
    credentials: EMULATOR_CREDENTIALS,
  });
  const listed: Listed[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined) continue;
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: object.Key }));
      listed.push({
        key: object.Key,
        size: object.Size ?? 0,
        ...(object.LastModified ? { lastModified: object.LastModified.toISOString() } : {}),
        metadata: head.Metadata ?? {},
        ...(options.sha256 ? { sha256: await sha256Of(s3, bucket, object.Key) } : {}),
      });
    }
  }
  s3.destroy();
  if (options.json) {
    process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
    return;
  }
  if (listed.length === 0) process.stdout.write(`no finished uploads under s3://${bucket}/${prefix}\n`);
  for (const item of listed) {
    const meta = Object.entries(item.metadata)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ');
    process.stdout.write(`${item.key}\t${item.size}\t${item.sha256 ?? ''}\t${meta}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`ls-uploads: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
