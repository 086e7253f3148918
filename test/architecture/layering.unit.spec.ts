import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

const CASES: Record<string, [path: string, source: string]> = {
  pg: ['libs/domain/src/organization/bad.ts', "import { Pool } from 'pg';\nexport const p = Pool;\n"],
  NestJS: ['libs/domain/src/organization/bad.ts', "import { Injectable } from '@nestjs/common';\nexport const i = Injectable;\n"],
  ioredis: ['libs/domain/src/organization/bad.ts', "import Redis from 'ioredis';\nexport const r = Redis;\n"],
  TypeORM: ['libs/domain/src/organization/bad.ts', "import { DataSource } from 'typeorm';\nexport const d = DataSource;\n"],
  'node:crypto': ['libs/domain/src/organization/bad.ts', "import { randomUUID } from 'node:crypto';\nexport const u = randomUUID;\n"],
  infra: ['libs/domain/src/organization/bad.ts', "import { uuidv7 } from '@bastion/infra/ids/uuid-v7';\nexport const u = uuidv7;\n"],
  clock: ['libs/domain/src/organization/bad.ts', 'export const now = new Date();\nexport const r = Math.random();\n'],
  infraToApp: ['libs/infra/src/bad.ts', "import { x } from '../../../apps/api/src/x';\nexport const y = x;\n"],
  appToApp: ['apps/worker/src/bad.ts', "import { x } from '../../api/src/x';\nexport const y = x;\n"],
  fine: ['libs/infra/src/fine.ts', "import { Pool } from 'pg';\nexport const p = Pool;\n"],
  apiPool: ['apps/api/src/task/bad.ts', "import { Pool } from 'pg';\nexport const p = Pool;\n"],
  apiToken: ['apps/api/src/task/bad.ts', "import { APP_POOL } from '../tokens';\nexport const p = APP_POOL;\n"],
  apiHelper: ['apps/api/src/task/bad.ts', "import { withPrincipal } from '@bastion/infra/database/with-principal';\nexport const p = withPrincipal;\n"],
  apiTypes: ['apps/api/src/task/fine.ts', "import type { PoolClient } from 'pg';\nexport type T = PoolClient;\n"],
  // Only the sealer (in the projector) loads audit private keys.
  apiKeyDirectory: ['apps/api/src/audit/bad.ts', "import { AuditKeyDirectory } from '@bastion/infra/audit/audit-key-directory';\nexport const d = AuditKeyDirectory;\n"],
  apiAuditBarrel: ['apps/api/src/audit/bad.ts', "import { AuditKeyDirectory } from '@bastion/infra/audit';\nexport const d = AuditKeyDirectory;\n"],
  apiAuditBarrelRelative: ['apps/api/src/audit/bad.ts', "import { AuditKeyDirectory as Keys } from '../../../../libs/infra/src/audit';\nexport const d = Keys;\n"],
  apiAuditNamespace: ['apps/api/src/audit/bad.ts', "import * as audit from '@bastion/infra/audit';\nexport const d = audit.AuditKeyDirectory;\n"],
  apiAuditRequire: ['apps/api/src/audit/bad.ts', "export const d = require('@bastion/infra/audit').AuditKeyDirectory;\n"],
  apiAuditDynamicImport: ['apps/api/src/audit/bad.ts', "export const d = async () => (await import('@bastion/infra/audit/audit-key-directory')).default;\n"],
  apiGenerateAuditKey: ['apps/api/src/audit/bad.ts', "import { generateAuditKey } from '@bastion/infra/audit';\nexport const k = generateAuditKey;\n"],
  apiPrivateKeyFiles: ['apps/api/src/audit/bad.ts', "import { PrivateKeyFiles } from '@bastion/infra/crypto/private-key-files';\nexport const f = PrivateKeyFiles;\n"],
  apiSealer: ['apps/api/src/audit/bad.ts', "import { Sealer as S } from '@bastion/infra/audit-sealer/sealer';\nexport const s = S;\n"],
  apiKeysDirSetting: ['apps/api/src/audit/bad.ts', 'export const dir = (config: { AUDIT_KEYS_DIR: string }) => config.AUDIT_KEYS_DIR;\n'],
  apiCompositionRoot: ['apps/api/src/infrastructure.module.ts', "import { AuditKeyDirectory } from '@bastion/infra/audit';\nexport const d = AuditKeyDirectory;\n"],
  apiSpec: ['apps/api/src/audit/bad.int.spec.ts', "import { AuditKeyDirectory } from '@bastion/infra/audit';\nexport const d = AuditKeyDirectory;\n"],
  workerAuditBarrel: ['apps/worker/src/audit/bad.ts', "import { AuditKeyDirectory } from '@bastion/infra/audit';\nexport const d = AuditKeyDirectory;\n"],
  workerKeyDirectory: ['apps/worker/src/main.ts', "import { AuditKeyDirectory } from '@bastion/infra/audit/audit-key-directory';\nexport const d = AuditKeyDirectory;\n"],
  workerAuditKeyFromPem: ['apps/worker/src/audit/bad.ts', "import { auditKeyFromPrivateKey } from '@bastion/infra/audit/audit-keys';\nexport const k = auditKeyFromPrivateKey;\n"],
  apiSigningClient: ['apps/api/src/audit/fine.ts', "import { AuditSigningClient, auditKeysJwks, chainOf } from '@bastion/infra/audit';\nexport const c = [AuditSigningClient, auditKeysJwks, chainOf];\n"],
  workerSigningClient: ['apps/worker/src/audit/fine.ts', "import { type AuditSigningClient, writeAuditExportFile } from '@bastion/infra/audit';\nexport type C = AuditSigningClient;\nexport const w = writeAuditExportFile;\n"],
  projectorKeyDirectory: ['apps/projector/src/fine.ts', "import { AuditKeyDirectory } from '@bastion/infra/audit';\nimport { Sealer } from '@bastion/infra/audit-sealer/sealer';\nexport const d = [AuditKeyDirectory, Sealer];\n"],
};

let results: Record<string, string[]>;

beforeAll(() => {
  // One ESLint process lints every case with the repository's real configuration (starting ESLint is slow).
  const script = `
    const { ESLint } = require('eslint');
    const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    (async () => {
      const eslint = new ESLint({ cwd: process.cwd() });
      const out = {};
      for (const [name, [filePath, text]] of Object.entries(cases)) {
        const [result] = await eslint.lintText(text, { filePath });
        out[name] = result.messages.map((m) => m.ruleId || m.message);
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, input: JSON.stringify(CASES), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  results = JSON.parse(run.stdout) as Record<string, string[]>;
});

describe('the layering of DESIGN §2 is a failing check', () => {
  it.each(['pg', 'NestJS', 'ioredis', 'TypeORM', 'node:crypto', 'infra'])('libs/domain cannot import %s', (name) => {
    expect(results[name]).toContain('no-restricted-imports');
  });

  it('libs/domain reads no clock and draws no random numbers', () => {
    expect(results.clock).toEqual(expect.arrayContaining(['no-restricted-globals', 'no-restricted-properties']));
  });

  it('libs/infra cannot import an app', () => {
    expect(results.infraToApp).toContain('no-restricted-imports');
  });

  it('one app cannot import another', () => {
    expect(results.appToApp).toContain('no-restricted-imports');
  });

  it.each(['apiPool', 'apiToken', 'apiHelper'])('the API touches the database only through SessionDatabase (%s)', (name) => {
    expect(results[name]).toContain('no-restricted-imports');
  });

  it('types from pg are fine in the API', () => {
    expect(results.apiTypes).toEqual([]);
  });

  it('the same import is fine where it belongs', () => {
    expect(results.fine).toEqual([]);
  });
});

describe('only the sealer loads audit private keys (SECURITY.md: the audit key never reaches the API)', () => {
  it.each([
    'apiKeyDirectory',
    'apiAuditBarrel',
    'apiAuditBarrelRelative',
    'apiAuditNamespace',
    'apiGenerateAuditKey',
    'apiPrivateKeyFiles',
    'apiSealer',
    'apiCompositionRoot',
    'apiSpec',
    'workerAuditBarrel',
    'workerKeyDirectory',
    'workerAuditKeyFromPem',
  ])('the API and the worker cannot import it (%s)', (name) => {
    expect(results[name]).toContain('no-restricted-imports');
  });

  it.each(['apiAuditRequire', 'apiAuditDynamicImport', 'apiKeysDirSetting'])('nor reach it past the import rule (%s)', (name) => {
    expect(results[name]).toContain('no-restricted-syntax');
  });

  it.each(['apiSigningClient', 'workerSigningClient'])('the rest of the audit library stays open to them (%s)', (name) => {
    expect(results[name]).toEqual([]);
  });

  it('the projector, which runs the sealer, may', () => {
    expect(results.projectorKeyDirectory).toEqual([]);
  });
});
