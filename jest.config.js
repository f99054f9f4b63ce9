// @swc/jest compiles TypeScript without type checking (tsc does that in `npm run typecheck`).
// `ignoreDynamic` keeps `import()` native so ESM-only packages (fauxqs) load in global setup.
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs', ignoreDynamic: true },
    },
  ],
};

const project = (name, extra = {}) => ({
  displayName: name,
  testEnvironment: 'node',
  transform,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  ...extra,
});

/** @type {import('jest').Config} */
module.exports = {
  projects: [project('unit'), project('contract'), project('integration'), project('infra')],
};
