import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { errorCode, isTransient } from '../adapters/aws-errors';
import { StoreUnavailableError } from '../ports/errors';
import { parseUserTable, type UserSource, type UserTable } from './user-table';

/**
 * The user table from an SSM SecureString parameter, read with decryption through Powertools'
 * SSMProvider, which keeps the value for `maxAgeSeconds`: one GetParameter per function instance
 * per period, however many requests arrive. The parsed table is kept as long as the text is the same.
 */
export class SsmUserSource implements UserSource {
  #lastText: string | undefined;
  #lastTable: UserTable | undefined;

  constructor(
    private readonly provider: Pick<SSMProvider, 'get'>,
    private readonly parameterName: string,
    private readonly maxAgeSeconds: number,
  ) {}

  async load(): Promise<UserTable> {
    const text = await this.read();
    if (text !== this.#lastText || this.#lastTable === undefined) {
      this.#lastTable = parseUserTable(text, `SSM parameter ${this.parameterName}`);
      this.#lastText = text;
    }
    return this.#lastTable;
  }

  /**
   * Throttling and SSM faults are transient (503, the client retries); anything else, such as a
   * missing parameter or a denied read, is a deployment fault and surfaces as one (500, logged).
   */
  private async read(): Promise<string> {
    let value: unknown;
    try {
      value = await this.provider.get(this.parameterName, { decrypt: true, maxAge: this.maxAgeSeconds });
    } catch (error) {
      // Powertools wraps the SDK error in GetParameterError; its cause is the service's answer.
      const cause = (error as { cause?: unknown }).cause ?? error;
      const code = errorCode(cause) ?? 'error';
      if (isTransient(cause)) {
        throw new StoreUnavailableError(`SSM parameter ${this.parameterName}: ${code}`, { cause });
      }
      throw new Error(`SSM parameter ${this.parameterName} could not be read: ${code}`, { cause });
    }
    if (typeof value !== 'string' || value === '') {
      throw new Error(`SSM parameter ${this.parameterName} is missing or empty`);
    }
    return value;
  }
}
