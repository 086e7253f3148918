import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyDirectory, publicJwks } from '../../libs/infra/src/crypto/jwt';
import { loadConfig } from '../../libs/infra/src/config/config';
import { JwtAccessTokens } from '../../apps/api/src/auth/jwt-access-tokens';
import { runCli } from '../support/processes';

function cli(env: Record<string, string>, ...args: string[]) {
  return runCli(env, ...args);
}

describe('bastion keys rotate', () => {
  it('publishes the next key before it signs, and tokens of the previous key keep verifying until they expire', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bastion-keys-'));
    const config = loadConfig({ NODE_ENV: 'test', JWT_KEYS_DIR: dir });
    const before = await JwtAccessTokens.open(config);
    const sessionId = '0190f5a0-0000-7000-8000-000000000001';
    const issued = await before.issue({ type: 'human', id: '0190f5a0-0000-7000-8000-0000000000aa', sessionId, amr: ['pwd'], orgId: null });
    before.close();

    const run = cli({ JWT_KEYS_DIR: dir, NODE_ENV: 'test' }, 'keys', 'rotate');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/added \S+ \(signs from /);

    const keys = await new KeyDirectory(dir).load();
    expect(keys).toHaveLength(2);
    expect(publicJwks(keys, new Date()).keys).toHaveLength(2); // the next key is published now…
    const after = await JwtAccessTokens.open(config);
    try {
      await expect(after.verify(issued.token)).resolves.toMatchObject({ sessionId }); // …the old key's tokens still verify
      const fresh = await after.issue({ type: 'human', id: '0190f5a0-0000-7000-8000-0000000000aa', sessionId, amr: ['pwd'], orgId: null });
      // …and until the lead time passes, the previous key still signs.
      expect(JSON.parse(Buffer.from(fresh.token.split('.')[0]!, 'base64url').toString()).kid).toBe(
        JSON.parse(Buffer.from(issued.token.split('.')[0]!, 'base64url').toString()).kid,
      );
    } finally {
      after.close();
    }
  });

  it('anything else is a usage error', () => {
    expect(cli({}, 'keys', 'spin').status).toBe(2);
  });
});
