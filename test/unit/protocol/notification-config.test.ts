import fc from 'fast-check';
import { ConfigError, loadConfig } from '../../../lambda/config';

const base = { BITS_TABLE_NAME: 't', BITS_BUCKET_NAME: 'b' };

describe('loadConfig: upload-reply settings', () => {
  it('defaults to no notification, a 20-s timeout and the bits-replies/ prefix', () => {
    expect(loadConfig(base)).toMatchObject({
      notificationType: 'none',
      notificationUrl: undefined,
      notificationFunction: undefined,
      notificationTimeoutSeconds: 20,
      replyPrefix: 'bits-replies/',
    });
  });

  it.each([
    [{ BITS_NOTIFICATION_TYPE: 'by-reference', BITS_NOTIFICATION_URL: 'https://app.example/notify' }],
    [{ BITS_NOTIFICATION_TYPE: 'BY-VALUE', BITS_NOTIFICATION_URL: 'http://10.0.0.1:8080/x?y=1' }],
    [{ BITS_NOTIFICATION_TYPE: 'by-value', BITS_NOTIFICATION_FUNCTION: 'reply-app' }],
    [
      {
        BITS_NOTIFICATION_TYPE: 'by-value',
        BITS_NOTIFICATION_FUNCTION: 'arn:aws:lambda:eu-west-1:123456789012:function:reply-app:live',
      },
    ],
    [{ BITS_NOTIFICATION_TYPE: 'by-reference', BITS_NOTIFICATION_FUNCTION: '123456789012:function:app' }],
    [{ BITS_NOTIFICATION_TIMEOUT_SECONDS: '25', BITS_REPLY_PREFIX: 'replies/' }],
  ])('accepts %j', (override) => {
    expect(() => loadConfig({ ...base, ...override })).not.toThrow();
  });

  it('normalises the type to lower case', () => {
    expect(
      loadConfig({ ...base, BITS_NOTIFICATION_TYPE: 'By-Value', BITS_NOTIFICATION_URL: 'https://a.example/' })
        .notificationType,
    ).toBe('by-value');
  });

  it.each([
    [
      { BITS_NOTIFICATION_TYPE: 'by-ref' },
      /BITS_NOTIFICATION_TYPE must be one of none, by-reference, by-value/,
    ],
    [
      { BITS_NOTIFICATION_TYPE: 'by-value' },
      /exactly one of BITS_NOTIFICATION_URL and BITS_NOTIFICATION_FUNCTION/,
    ],
    [
      {
        BITS_NOTIFICATION_TYPE: 'by-value',
        BITS_NOTIFICATION_URL: 'https://a.example/',
        BITS_NOTIFICATION_FUNCTION: 'f',
      },
      /exactly one of/,
    ],
    [
      { BITS_NOTIFICATION_URL: 'https://a.example/' },
      /BITS_NOTIFICATION_URL is set but BITS_NOTIFICATION_TYPE is none/,
    ],
    [
      { BITS_NOTIFICATION_FUNCTION: 'f' },
      /BITS_NOTIFICATION_FUNCTION is set but BITS_NOTIFICATION_TYPE is none/,
    ],
    [
      { BITS_NOTIFICATION_TYPE: 'by-value', BITS_NOTIFICATION_URL: 'ftp://a.example/' },
      /must be an http or https URL/,
    ],
    [
      { BITS_NOTIFICATION_TYPE: 'by-value', BITS_NOTIFICATION_URL: '/relative' },
      /must be an http or https URL/,
    ],
    [
      { BITS_NOTIFICATION_TYPE: 'by-value', BITS_NOTIFICATION_FUNCTION: 'no spaces' },
      /Lambda function name or ARN/,
    ],
    [
      { BITS_NOTIFICATION_TIMEOUT_SECONDS: '0' },
      /BITS_NOTIFICATION_TIMEOUT_SECONDS must be between 1 and 25/,
    ],
    [{ BITS_NOTIFICATION_TIMEOUT_SECONDS: '26' }, /between 1 and 25/],
    [{ BITS_REPLY_PREFIX: '' }, /BITS_REPLY_PREFIX must be non-empty and apart/],
    [{ BITS_REPLY_PREFIX: 'uploads/replies/' }, /BITS_REPLY_PREFIX must be non-empty and apart/],
    [{ BITS_REPLY_PREFIX: 'bits-staging/' }, /apart from BITS_KEY_PREFIX and BITS_STAGING_PREFIX/],
    [{ BITS_REPLY_PREFIX: 'replies' }, /BITS_REPLY_PREFIX must be empty or a relative key prefix/],
  ])('names the bad variable in its error: %j', (override, message) => {
    expect(() => loadConfig({ ...base, ...override })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...override })).toThrow(message);
  });

  it('never accepts a reply prefix overlapping the key or staging prefix', () => {
    const segment = fc.stringMatching(/^[a-z]{1,4}$/);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 3 }),
        fc.array(segment, { minLength: 1, maxLength: 3 }),
        (a, b) => {
          const keyPrefix = `${a.join('/')}/`;
          const replyPrefix = `${b.join('/')}/`;
          const env = {
            ...base,
            BITS_KEY_PREFIX: keyPrefix,
            BITS_STAGING_PREFIX: 'zzzzz-staging/',
            BITS_REPLY_PREFIX: replyPrefix,
          };
          const overlaps = keyPrefix.startsWith(replyPrefix) || replyPrefix.startsWith(keyPrefix);
          if (overlaps) expect(() => loadConfig(env)).toThrow(/BITS_REPLY_PREFIX/);
          else expect(loadConfig(env).replyPrefix).toBe(replyPrefix);
        },
      ),
    );
  });
});
