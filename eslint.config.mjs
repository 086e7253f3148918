// The layering of DESIGN §2 as failing checks, not wishes:
//  - libs/domain is pure: no NestJS, TypeORM, pg, Redis, BullMQ, network or node I/O;
//  - libs/infra never imports an app; one app never imports another;
//  - only the projector (the sealer) loads audit private keys.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const IO_PACKAGES = [
  '@nestjs/*', 'typeorm', 'pg', 'pg-*', 'ioredis', 'bullmq', '@eventstore/*', '@google-cloud/*', 'express',
  'node:fs', 'node:fs/*', 'fs', 'node:net', 'net', 'node:http', 'http', 'node:https', 'https', 'node:child_process',
  'child_process', 'node:crypto', 'crypto',
];
const APPS = ['api', 'projector', 'worker', 'cli'];
const appImport = (app) => [`**/apps/${app}/**`, `apps/${app}/**`, `**/${app}/src/**`, `../${app}/**`, `../../${app}/**`, `../../../${app}/**`];

// The audit signing key belongs to the sealer, inside the projector (DESIGN §9, SECURITY.md). The API and the worker
// may not open its directory, read any private-key files, make an audit private key, run the sealer, or read the
// setting naming the directory: by module path, by name out of the audit barrel, and by name anywhere in the code
// (a namespace import, require() or import() would otherwise slip past no-restricted-imports).
const AUDIT_KEY_MESSAGE = 'Only the sealer (apps/projector) loads audit private keys; the API and the worker ask it to sign (AuditSigningClient).';
const AUDIT_KEY_EXPORTS = ['AuditKeyDirectory', 'generateAuditKey', 'auditKeyFromPrivateKey'];
const AUDIT_KEY_PATTERNS = [
  {
    group: ['**/audit/audit-key-directory', '**/audit/audit-key-directory.*', '**/audit-sealer', '**/audit-sealer/**', '**/crypto/private-key-files', '**/crypto/private-key-files.*'],
    message: AUDIT_KEY_MESSAGE,
  },
  {
    group: ['@bastion/infra/audit', '@bastion/infra/audit/index', '**/infra/src/audit', '**/infra/src/audit/index', '**/audit/audit-keys'],
    importNames: AUDIT_KEY_EXPORTS,
    message: AUDIT_KEY_MESSAGE,
  },
];
const AUDIT_KEY_SYNTAX = [
  { selector: `Identifier[name=/^(${AUDIT_KEY_EXPORTS.join('|')}|AUDIT_KEYS_DIR|Sealer)$/]`, message: AUDIT_KEY_MESSAGE },
  { selector: 'Literal[value=/audit-key-directory|private-key-files|audit-sealer|AUDIT_KEYS_DIR/]', message: AUDIT_KEY_MESSAGE },
];
const KEYLESS_APPS = ['api', 'worker'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', 'bench/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['libs/domain/**/*.ts'],
    ignores: ['libs/domain/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: IO_PACKAGES, message: 'libs/domain is pure: no frameworks, databases, queues, network or I/O (DESIGN §2).' },
          { group: ['**/libs/infra/**', '@bastion/infra', '@bastion/infra/*', '**/apps/**'], message: 'libs/domain imports nothing from infra or apps.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'Date', message: 'The domain takes time from its command context (metadata.now).' },
        { name: 'fetch', message: 'The domain does no I/O.' },
        { name: 'process', message: 'The domain reads no environment.' },
      ],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Ids come from the command context.' }],
    },
  },
  {
    files: ['libs/infra/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/apps/**'], message: 'libs/infra never imports an app (DESIGN §2).' }] }],
    },
  },
  ...APPS.map((app) => ({
    files: [`apps/${app}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: APPS.filter((a) => a !== app).flatMap(appImport), message: 'One app never imports another (DESIGN §2).' },
          ...(KEYLESS_APPS.includes(app) ? AUDIT_KEY_PATTERNS : []),
        ],
      }],
      ...(KEYLESS_APPS.includes(app) ? { 'no-restricted-syntax': ['error', ...AUDIT_KEY_SYNTAX] } : {}),
    },
  })),
  // The API reaches the database only through SessionDatabase (one transaction opened by authz.begin, DESIGN §4):
  // no other file of the API may take the pool, open a pg client, or call the transaction helpers directly.
  {
    files: ['apps/api/src/**/*.ts'],
    ignores: ['apps/api/src/auth/session-database.ts', 'apps/api/src/infrastructure.module.ts', 'apps/api/src/health/health.controller.ts', 'apps/api/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'pg', allowTypeImports: true, message: 'Use SessionDatabase: every query runs in an authz.begin transaction.' }],
        patterns: [
          { group: ['**/tokens'], importNames: ['APP_POOL'], message: 'Use SessionDatabase, not the pool.' },
          { group: ['**/database/with-principal', '@bastion/infra/database/with-principal'], message: 'Use SessionDatabase.' },
          { group: ['**/database/pools', '@bastion/infra/database/pools'], message: 'Use SessionDatabase.' },
          ...APPS.filter((a) => a !== 'api').flatMap(appImport).map((g) => ({ group: [g], message: 'One app never imports another (DESIGN §2).' })),
          ...AUDIT_KEY_PATTERNS,
        ],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'test/**/*.js', '**/*.spec.ts', 'bench/**/*.ts', 'scripts/**/*.js', 'bin/**/*.js', '*.js', '*.mjs'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: { globals: { ...globals.node } },
  },
);
