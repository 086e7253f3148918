import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../config/project-root';
import { auditKeysJwks } from './audit-keys';
import { verifyExport } from './verify-export';
import { docExample } from './testing/audit-doc-example';

describe('docs/audit-export.md', () => {
  const doc = readFileSync(join(projectRoot(), 'docs', 'audit-export.md'), 'utf8');

  it('the worked example shows the values the code produces', async () => {
    const example = await docExample();
    for (const value of [...example.canonical, ...example.heads, example.signingInput, example.signature, example.jwks, ...example.lines]) {
      expect(doc).toContain(value);
    }
  });

  it('the worked example file verifies', async () => {
    const example = await docExample();
    expect(await verifyExport(example.lines, auditKeysJwks([example.key]))).toMatchObject({ ok: true, events: 2, checkpoint: { count: 2, head: example.heads[1] } });
  });
});
