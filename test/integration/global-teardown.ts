import { EMULATOR_ENV } from '../helpers/aws-test-env';
import { takeEmulators } from './global-setup';

/** Jest global teardown: stops what global-setup.ts started, java process included. */
export default async function globalTeardown() {
  await takeEmulators()?.stop();
  delete process.env[EMULATOR_ENV.s3Endpoint];
  delete process.env[EMULATOR_ENV.dynamoEndpoint];
}
