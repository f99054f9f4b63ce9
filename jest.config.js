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

// S3 and DynamoDB emulators for the projects that use them. Jest runs one global setup file once
// per run however many selected projects name it, and not at all when none of them has tests.
const emulators = {
  globalSetup: '<rootDir>/test/integration/global-setup.ts',
  globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    project('unit'),
    project('contract', emulators),
    project('integration', emulators),
    project('infra'),
    project('reliability', emulators),
  ],
};
