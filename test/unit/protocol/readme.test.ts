import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_ENV } from '../../../lambda/config';
import { BITS_ERRORS, formatHresult } from '../../../lambda/protocol/errors';

const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');

describe('README stays true to the code', () => {
  it.each(Object.entries(BITS_ERRORS))(
    'lists %s with its status and HRESULT in the error table',
    (name, spec) => {
      expect(readme).toContain(
        `| \`${name}\` | ${spec.status} | \`${formatHresult(spec.hresult)}\` ${spec.hresultName} |`,
      );
    },
  );

  it.each(Object.values(CONFIG_ENV))('documents %s in the configuration table', (variable) => {
    expect(readme).toContain(`| \`${variable}\` |`);
  });
});
