import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_ENV } from '../../../lambda/config';
import { BITS_ERRORS, type BitsErrorSpec, formatHresult } from '../../../lambda/protocol/errors';

const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');

describe('README stays true to the code', () => {
  /** The HRESULT column: `0x…` and its name, or "none" for an error sent without error headers (401). */
  const hresultColumn = (spec: BitsErrorSpec): string =>
    spec.hresult === undefined ? 'none' : `\`${formatHresult(spec.hresult)}\` ${spec.hresultName}`;

  it.each(Object.entries(BITS_ERRORS as Record<string, BitsErrorSpec>))(
    'lists %s with its status and HRESULT in the error table',
    (name, spec) => {
      expect(readme).toContain(`| \`${name}\` | ${spec.status} | ${hresultColumn(spec)} |`);
    },
  );

  it.each(Object.values(CONFIG_ENV))('documents %s in the configuration table', (variable) => {
    expect(readme).toContain(`| \`${variable}\` |`);
  });
});
