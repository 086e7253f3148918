// One Jest configuration for every tier; the tier is in the file name (*.unit / *.int / *.e2e .spec.ts).
// @swc/jest also transforms the ESM-only packages later issues need (jose 6, openid-client 6, oidc-provider 9):
// Jest's module system cannot load ESM from CommonJS tests, so those packages are compiled like our own code.
const esmOnly = ['jose', 'openid-client', 'oidc-provider', 'oauth4webapi', '@panva', 'quick-lru', 'nanoid', 'otplib', '@otplib', '@scure', '@noble'];

// Suites against servers these machines cannot run are left out unless configured (README: EventStoreDB, Cloud KMS),
// rather than registered as skipped tests.
const external = [];
if (!process.env.EVENTSTOREDB_URL) external.push('/eventstoredb-event-store\\.int\\.spec\\.ts$');
if (!process.env.GOOGLE_APPLICATION_CREDENTIALS || !process.env.BASTION_TEST_GCP_KMS_KEY) external.push('/gcp-kms\\.real\\.int\\.spec\\.ts$');

/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/{apps,libs,test,migrations}/**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...external],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { swcrc: false, ...require('./test/support/swc-jest.json') }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: {
    '^@bastion/domain$': '<rootDir>/libs/domain/src',
    '^@bastion/domain/(.*)$': '<rootDir>/libs/domain/src/$1',
    '^@bastion/infra$': '<rootDir>/libs/infra/src',
    '^@bastion/infra/(.*)$': '<rootDir>/libs/infra/src/$1',
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
  maxWorkers: process.env.JEST_MAX_WORKERS ?? 2,
};
