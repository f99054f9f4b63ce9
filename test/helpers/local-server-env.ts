import { Logger } from '@aws-lambda-powertools/logger';
import { type LocalServer, type LocalServerOptions, startLocalServer } from '../../local/local-server';
import { type AwsTestEnv, emulatorEndpoints } from './aws-test-env';
import { type ConfigOverrides, testConfig } from './test-deps';

/** The local server on the test's own table and bucket of the shared emulators, logging nothing. */
export function startTestServer(
  env: AwsTestEnv,
  overrides: ConfigOverrides = {},
  extra: Partial<LocalServerOptions> = {},
): Promise<LocalServer> {
  return startLocalServer({
    config: testConfig({ tableName: env.tableName, bucketName: env.bucketName, ...overrides }),
    endpoints: emulatorEndpoints(),
    logger: new Logger({ logLevel: 'SILENT' }),
    ...extra,
  });
}
