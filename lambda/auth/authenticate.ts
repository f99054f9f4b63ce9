import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { CONFIG_ENV, type Config, ConfigError } from '../config';
import type { HttpRequest } from '../protocol/http';
import { ANONYMOUS } from '../protocol/request';
import { basicAuthenticator } from './basic';
import { SsmUserSource } from './ssm-user-source';
import { upstreamAuthenticator } from './upstream';
import type { UserSource } from './user-table';

/**
 * Establishes who sent a request, before any packet is parsed: resolves to the principal (which
 * owns the sessions it creates), or throws BitsError UNAUTHORIZED (401). `event` is the raw front
 * event, for the identity an authorizer put in its request context.
 */
export type Authenticate = (request: HttpRequest, event: unknown) => Promise<string>;

export interface AuthenticatorOptions {
  /** Replaces the SSM parameter as the source of Basic users (tests). */
  readonly users?: UserSource;
  /** Replaces the default SSMProvider (region and credentials from the runtime). */
  readonly ssm?: Pick<SSMProvider, 'get'>;
  /** Epoch milliseconds. */
  readonly now?: () => number;
}

function ssmUsers(config: Config, ssm: Pick<SSMProvider, 'get'> | undefined): UserSource {
  // loadConfig already refuses basic without a parameter; a hand-made Config might not.
  if (config.authParameter === undefined) {
    throw new ConfigError(`${CONFIG_ENV.authParameter} is required when ${CONFIG_ENV.authMode} is basic`);
  }
  return new SsmUserSource(ssm ?? new SSMProvider(), config.authParameter, config.authCacheSeconds);
}

/** The authenticator of the configured mode (README "Security"). Builds clients but calls nothing. */
export function createAuthenticator(config: Config, options: AuthenticatorOptions = {}): Authenticate {
  switch (config.authMode) {
    case 'none':
      return async () => ANONYMOUS;
    case 'upstream':
      return upstreamAuthenticator();
    case 'basic': {
      return basicAuthenticator({
        realm: config.authRealm,
        users: options.users ?? ssmUsers(config, options.ssm),
        cacheSeconds: config.authCacheSeconds,
        ...(options.now === undefined ? {} : { now: options.now }),
      });
    }
  }
}
