import { ConfigError, loadConfig, RECOMMENDED_MAX_SESSIONS_PER_PRINCIPAL } from '../../../lambda/config';

const base = { BITS_TABLE_NAME: 't', BITS_BUCKET_NAME: 'b' };

describe('loadConfig: access control and limits', () => {
  it('defaults to no authentication, no principal prefix and no session limit', () => {
    expect(loadConfig(base)).toMatchObject({
      authMode: 'none',
      authParameter: undefined,
      authCacheSeconds: 60,
      authRealm: 'BITS upload',
      principalPrefix: false,
      maxSessionsPerPrincipal: 0,
    });
    expect(RECOMMENDED_MAX_SESSIONS_PER_PRINCIPAL).toBe(50);
  });

  it('reads basic mode with its parameter, realm, cache period and limits', () => {
    expect(
      loadConfig({
        ...base,
        BITS_AUTH_MODE: 'Basic',
        BITS_AUTH_PARAMETER: '/bits/users',
        BITS_AUTH_REALM: 'Contoso uploads',
        BITS_AUTH_CACHE_SECONDS: '0',
        BITS_PRINCIPAL_PREFIX: 'true',
        BITS_MAX_SESSIONS_PER_PRINCIPAL: '50',
      }),
    ).toMatchObject({
      authMode: 'basic',
      authParameter: '/bits/users',
      authRealm: 'Contoso uploads',
      authCacheSeconds: 0,
      principalPrefix: true,
      maxSessionsPerPrincipal: 50,
    });
  });

  it('accepts upstream mode without a parameter', () => {
    expect(loadConfig({ ...base, BITS_AUTH_MODE: 'upstream' }).authMode).toBe('upstream');
  });

  it.each([
    [{ BITS_AUTH_MODE: 'ntlm' }, /BITS_AUTH_MODE must be one of none, basic, upstream/],
    [{ BITS_AUTH_MODE: 'basic' }, /BITS_AUTH_PARAMETER is required when BITS_AUTH_MODE is basic/],
    // A parameter with the mode left at none would look protected while letting everyone in.
    [{ BITS_AUTH_PARAMETER: '/bits/users' }, /BITS_AUTH_PARAMETER is set but BITS_AUTH_MODE is "none"/],
    [{ BITS_AUTH_MODE: 'upstream', BITS_AUTH_PARAMETER: '/bits/users' }, /BITS_AUTH_PARAMETER is set/],
    [{ BITS_AUTH_MODE: 'basic', BITS_AUTH_PARAMETER: 'bits users' }, /BITS_AUTH_PARAMETER must be an SSM/],
    [{ BITS_AUTH_MODE: 'basic', BITS_AUTH_PARAMETER: '/aws/reserved' }, /BITS_AUTH_PARAMETER must be an SSM/],
    [{ BITS_AUTH_MODE: 'basic', BITS_AUTH_PARAMETER: '/bits//users' }, /BITS_AUTH_PARAMETER must be an SSM/],
    [{ BITS_AUTH_REALM: 'say "hi"' }, /BITS_AUTH_REALM must be/],
    [{ BITS_AUTH_REALM: 'back\\slash' }, /BITS_AUTH_REALM must be/],
    [{ BITS_AUTH_REALM: 'line\nbreak' }, /BITS_AUTH_REALM must be/],
    [{ BITS_AUTH_CACHE_SECONDS: '86401' }, /BITS_AUTH_CACHE_SECONDS must be between/],
    [{ BITS_PRINCIPAL_PREFIX: 'yes' }, /BITS_PRINCIPAL_PREFIX must be true or false/],
    [{ BITS_MAX_SESSIONS_PER_PRINCIPAL: '-1' }, /BITS_MAX_SESSIONS_PER_PRINCIPAL must be a whole number/],
  ])('names the bad variable in its error: %j', (override, message) => {
    expect(() => loadConfig({ ...base, ...override })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...override })).toThrow(message);
  });
});
