import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where a running local server tells `npm run ls-uploads` and `npm run admin` how to reach its emulators. */
export const STATE_FILE = join('.local-data', 'local-server.json');

export interface LocalServerState {
  readonly url: string;
  readonly s3Endpoint: string;
  /** DynamoDB Local's endpoint and the session table (read by `npm run admin`); absent in older files. */
  readonly dynamoEndpoint?: string;
  readonly table?: string;
  readonly bucket: string;
  readonly keyPrefix: string;
  readonly pid: number;
}

export function writeState(state: LocalServerState, file = STATE_FILE): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
}

export function readState(file = STATE_FILE): LocalServerState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalServerState;
  } catch {
    return undefined;
  }
}

export const removeState = (file = STATE_FILE): void => rmSync(file, { force: true });
