import { hkdfSync, randomBytes } from 'node:crypto';
import { StartupError } from '../runtime/startup-error';
import { readOrCreateSecretFile } from './secret-file';

/**
 * The API's symmetric secrets, all derived (HKDF-SHA256) from one root secret so there is one thing to rotate:
 * - `refreshTokenKey` MACs refresh tokens (`HMAC(key, session id ‖ counter)`): the server stores no token at all;
 * - `sessionProofKey` derives each session's proof for `authz.begin` (only its hash is in the database).
 * The root comes from `BASTION_SERVER_SECRET` (base64, ≥ 32 bytes); in development it is generated once into a
 * 0600 file under `.data/keys/`. Production refuses to start without the variable.
 */
export interface ServerSecrets {
  readonly refreshTokenKey: Buffer;
  readonly sessionProofKey: Buffer;
  readonly agentKeyHashKey: Buffer;
  readonly recoveryCodeKey: Buffer;
}

function derive(root: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `bastion ${label} v1`, 32));
}

export function deriveServerSecrets(root: Buffer): ServerSecrets {
  if (root.length < 32) throw new StartupError('BASTION_SERVER_SECRET must decode to at least 32 bytes.');
  return {
    refreshTokenKey: derive(root, 'refresh-token'),
    sessionProofKey: derive(root, 'session-proof'),
    agentKeyHashKey: derive(root, 'agent-key-hash'),
    recoveryCodeKey: derive(root, 'recovery-code'),
  };
}

export function loadServerSecrets(env: { NODE_ENV: string; BASTION_SERVER_SECRET?: string }, devFile: string): ServerSecrets {
  if (env.BASTION_SERVER_SECRET) return deriveServerSecrets(Buffer.from(env.BASTION_SERVER_SECRET, 'base64'));
  if (env.NODE_ENV === 'production') {
    throw new StartupError('BASTION_SERVER_SECRET is required in production (32 random bytes, base64).');
  }
  return deriveServerSecrets(Buffer.from(readOrCreateSecretFile(devFile, () => randomBytes(32).toString('base64')), 'base64'));
}
