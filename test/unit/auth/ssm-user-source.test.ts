import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { createAuthenticator } from '../../../lambda/auth/authenticate';
import { SsmUserSource } from '../../../lambda/auth/ssm-user-source';
import { UserTableError } from '../../../lambda/auth/user-table';
import { type Config, ConfigError } from '../../../lambda/config';
import { StoreUnavailableError } from '../../../lambda/ports/errors';
import type { HttpRequest } from '../../../lambda/protocol/http';
import { testConfig } from '../../helpers/test-deps';
import { basicAuthorization, usersJson } from './auth-bed';

const PARAMETER = '/bits/users';
const ssm = mockClient(SSMClient);
let usersText: string;

beforeAll(async () => {
  usersText = await usersJson({ alice: 'alice-secret' });
});
beforeEach(() => {
  ssm.reset();
  ssm
    .on(GetParameterCommand)
    .resolves({ Parameter: { Name: PARAMETER, Type: 'SecureString', Value: usersText } });
});
afterEach(() => jest.useRealTimers());
afterAll(() => ssm.restore());

/** A real Powertools SSMProvider over a mocked SSMClient: what production runs, minus the network. */
const provider = () =>
  new SSMProvider({
    awsSdkV3Client: new SSMClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    }),
  });

/** Fakes only Date, so the SDK's timers keep running. */
function freezeClock(): void {
  jest.useFakeTimers({
    doNotFake: [
      'nextTick',
      'setImmediate',
      'clearImmediate',
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'queueMicrotask',
      'hrtime',
      'performance',
    ],
    now: Date.UTC(2026, 10, 23),
  });
}

const request = (authorization: string): HttpRequest => ({
  method: 'BITS_POST',
  path: '/up/a.bin',
  headers: { authorization, 'content-length': '0', 'bits-packet-type': 'Ping' },
  body: Buffer.alloc(0),
});

describe('SsmUserSource', () => {
  it('reads the parameter with GetParameter and decryption', async () => {
    const table = await new SsmUserSource(provider(), PARAMETER, 60).load();
    expect([...table.users.keys()]).toEqual(['alice']);
    expect(ssm.commandCalls(GetParameterCommand).map((call) => call.args[0].input)).toEqual([
      { Name: PARAMETER, WithDecryption: true },
    ]);
  });

  it('reads it once per cache period, however many requests come', async () => {
    freezeClock();
    const source = new SsmUserSource(provider(), PARAMETER, 60);
    await source.load();
    await source.load();
    jest.advanceTimersByTime(59_000);
    await source.load();
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);

    jest.advanceTimersByTime(2_000);
    await source.load();
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
  });

  it('picks up a changed parameter after the cache period', async () => {
    freezeClock();
    const source = new SsmUserSource(provider(), PARAMETER, 60);
    expect((await source.load()).users.has('bob')).toBe(false);
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: await usersJson({ alice: 'a', bob: 'b' }) } });
    jest.advanceTimersByTime(61_000);
    expect((await source.load()).users.has('bob')).toBe(true);
  });

  it('turns SSM throttling into StoreUnavailableError (503, the client retries)', async () => {
    ssm
      .on(GetParameterCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' }));
    await expect(new SsmUserSource(provider(), PARAMETER, 60).load()).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
  });

  it('reports a missing parameter as a fault of its own (500), naming the parameter', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    const load = new SsmUserSource(provider(), PARAMETER, 60).load();
    await expect(load).rejects.toThrow(`SSM parameter ${PARAMETER} could not be read: ParameterNotFound`);
    await expect(load).rejects.not.toBeInstanceOf(StoreUnavailableError);
  });

  it('refuses content that is not a user table', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'alice:secret' } });
    await expect(new SsmUserSource(provider(), PARAMETER, 60).load()).rejects.toBeInstanceOf(UserTableError);
  });
});

describe('createAuthenticator in basic mode', () => {
  const basicConfig: Config = testConfig({
    authMode: 'basic',
    authParameter: PARAMETER,
    authCacheSeconds: '60',
  });

  it('reads the configured parameter once for several authenticated requests', async () => {
    freezeClock();
    const authenticate = createAuthenticator(basicConfig, { ssm: provider() });
    for (let index = 0; index < 3; index += 1) {
      await expect(authenticate(request(basicAuthorization('alice', 'alice-secret')), {})).resolves.toBe(
        'alice',
      );
    }
    await expect(authenticate(request(basicAuthorization('alice', 'wrong')), {})).rejects.toThrow(
      /wrong password/,
    );
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
  });

  it('refuses a hand-made config without a parameter', () => {
    expect(() => createAuthenticator({ ...basicConfig, authParameter: undefined })).toThrow(ConfigError);
  });
});
