import { type Emulators, startEmulators } from '../../local/emulators';
import { EMULATOR_ENV } from '../helpers/aws-test-env';

/** Setup and teardown run in jest's main process; the handle waits there between the two. */
const HANDLE = Symbol.for('bits-upload-server.test-emulators');
type WithHandle = { [HANDLE]?: Emulators };

export function takeEmulators(): Emulators | undefined {
  const holder = globalThis as WithHandle;
  const emulators = holder[HANDLE];
  delete holder[HANDLE];
  return emulators;
}

/**
 * Jest global setup of the projects that need S3 and DynamoDB (jest.config.js). Jest runs a
 * project's global setup only when the run includes tests of that project, and the same file only
 * once per run, so a unit-only run never pays for the emulators and a full run starts them once.
 * Their endpoints go to the tests through process.env, which the test workers inherit (jest forks
 * them after global setup). Each test file creates its own table and bucket (aws-test-env.ts).
 */
export default async function globalSetup(): Promise<void> {
  // Belt and braces for "once": a second call in the same run reuses what is running.
  if ((globalThis as WithHandle)[HANDLE] !== undefined) return;
  const emulators = await startEmulators();
  (globalThis as WithHandle)[HANDLE] = emulators;
  process.env[EMULATOR_ENV.s3Endpoint] = emulators.s3Endpoint;
  process.env[EMULATOR_ENV.dynamoEndpoint] = emulators.dynamoEndpoint;
}
