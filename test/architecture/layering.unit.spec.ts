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
