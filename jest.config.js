/** Jest in ESM mode with ts-jest (its module loader cannot require ES modules on Node 20). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true }],
  },
  testMatch: ['<rootDir>/tests/**/*.test.ts'],
  // One migrated database per run, copied by every test file (tests/support/db.ts).
  globalSetup: '<rootDir>/tests/support/global-setup.js',
  globalTeardown: '<rootDir>/tests/support/global-teardown.js',
  // Generous: these machines are shared, and some tests start server processes.
  testTimeout: 120_000,
  maxWorkers: 2,
};
