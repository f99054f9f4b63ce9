import { ConfigError, loadConfig } from '../../../lambda/config';

const base = { BITS_TABLE_NAME: 't', BITS_BUCKET_NAME: 'b' };

describe('loadConfig', () => {
  it('applies documented defaults and freezes the result', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      maxFragmentSize: Math.floor(4.4 * 1024 * 1024),
      partSize: 8 * 1024 * 1024,
      sessionTimeoutSeconds: 1_209_600,
      keyPrefix: 'uploads/',
      stagingPrefix: 'bits-staging/',
      allowOverwrites: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ BITS_TABLE_NAME: '' }, /BITS_TABLE_NAME is required/],
    [{ BITS_PART_SIZE: '1048576' }, /BITS_PART_SIZE must be between/],
    [{ BITS_MAX_FRAGMENT_SIZE: '4MB' }, /BITS_MAX_FRAGMENT_SIZE must be a whole number/],
    [{ BITS_ALLOW_OVERWRITES: 'yes' }, /BITS_ALLOW_OVERWRITES must be true or false/],
    [{ BITS_KEY_PREFIX: '/abs/' }, /BITS_KEY_PREFIX must be/],
    [{ BITS_STAGING_PREFIX: 'uploads/staging/' }, /BITS_STAGING_PREFIX must be non-empty and apart/],
    [{ BITS_LOG_LEVEL: 'LOUD' }, /BITS_LOG_LEVEL must be one of/],
  ])('names the bad variable in its error: %j', (override, message) => {
    expect(() => loadConfig({ ...base, ...override })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...override })).toThrow(message);
  });
});
