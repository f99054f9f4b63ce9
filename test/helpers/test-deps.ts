import { Logger } from '@aws-lambda-powertools/logger';
import { PartBuffers } from '../../lambda/assembler/part-buffers';
import { SessionCache } from '../../lambda/assembler/session-cache';
import { CONFIG_ENV, type Config, loadConfig } from '../../lambda/config';
import { createHandler } from '../../lambda/create-handler';
import type { HandlerDeps } from '../../lambda/handlers/types';
import { newSessionId } from '../../lambda/protocol/session-id';
import { MemorySessionStore } from './memory-session-store';
import { MemoryUploadStore } from './memory-upload-store';

export type ConfigOverrides = Partial<Record<keyof typeof CONFIG_ENV, string>>;

/** loadConfig over a complete test environment, with overrides by Config field name. */
export function testConfig(overrides: ConfigOverrides = {}): Config {
  const env: Record<string, string> = {
    [CONFIG_ENV.tableName]: 'sessions',
    [CONFIG_ENV.bucketName]: 'uploads',
  };
  for (const [field, value] of Object.entries(overrides)) {
    env[CONFIG_ENV[field as keyof typeof CONFIG_ENV]] = value;
  }
  return loadConfig(env);
}

/** A clock tests can move. */
export class TestClock {
  constructor(public ms = Date.UTC(2026, 10, 23)) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface TestBed {
  readonly handler: ReturnType<typeof createHandler>;
  readonly deps: HandlerDeps;
  readonly sessions: MemorySessionStore;
  readonly uploads: MemoryUploadStore;
  readonly clock: TestClock;
}

/**
 * A second Lambda execution environment of the same function: the same stores, its own session
 * cache and part buffers (what one warm environment keeps and another does not see).
 */
export const anotherEnvironment = (deps: HandlerDeps): HandlerDeps => ({
  ...deps,
  sessionCache: new SessionCache(),
  partBuffers: new PartBuffers(),
});

/** The real handler over in-memory ports. */
export function makeTestBed(overrides: ConfigOverrides = {}, logger?: Logger): TestBed {
  const sessions = new MemorySessionStore();
  const uploads = new MemoryUploadStore();
  const clock = new TestClock();
  const deps: HandlerDeps = {
    config: testConfig(overrides),
    sessions,
    uploads,
    logger: logger ?? new Logger({ logLevel: 'SILENT' }),
    now: clock.now,
    newSessionId,
    // As composeDeps wires them: every handler test also runs Fragment's cached-record path, and
    // parts assembled from the bytes this environment staged (nothing read back).
    sessionCache: new SessionCache(),
    partBuffers: new PartBuffers(),
  };
  return { handler: createHandler(deps), deps, sessions, uploads, clock };
}
