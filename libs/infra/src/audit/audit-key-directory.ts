import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../config/project-root';
import { instantSchema, kidSchema, PrivateKeyFiles } from '../crypto/private-key-files';
import { AuditKeyFileExposedError, AuditKeyFileInvalidError, AuditKeyUnusableError } from './audit-errors';
import { auditKeyFromPrivateKey, generateAuditKey, type AuditKey } from './audit-keys';

const keyFileSchema = z
  .object({
    kid: kidSchema,
    createdAt: instantSchema,
    retiredAt: instantSchema.optional(),
    privateKeyPem: z.string(),
  })
  .strict();

/**
 * Audit keys as files, for the sealer alone (see {@link PrivateKeyFiles}): `<kid>.json` each, mode 0600, in a
 * directory of mode 0700 (`AUDIT_KEYS_DIR`, default `.data/keys/audit/`, which git ignores), owned by the account the sealer runs as,
 * so the API's account cannot read them. The API publishes the public halves ({@link auditKeysJwks}); it never needs
 * this directory.
 */
export class AuditKeyDirectory extends PrivateKeyFiles<AuditKey, z.infer<typeof keyFileSchema>> {
  constructor(path: string = join(projectRoot(), '.data', 'audit-keys')) {
    super(path, {
      label: 'Audit key',
      keyKind: 'Ed25519',
      schema: keyFileSchema,
      invalid: (message) => new AuditKeyFileInvalidError(message),
      exposed: (message) => new AuditKeyFileExposedError(message),
      toFile: (key) => {
        if (!key.privateKey) throw new TypeError(`audit key ${key.kid} has no private half to store`);
        return {
          kid: key.kid,
          createdAt: key.createdAt.toISOString(),
          ...(key.retiredAt ? { retiredAt: key.retiredAt.toISOString() } : {}),
          privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        };
      },
      fromFile: (file) => {
        try {
          return auditKeyFromPrivateKey(createPrivateKey(file.privateKeyPem), {
            createdAt: new Date(file.createdAt),
            ...(file.retiredAt ? { retiredAt: new Date(file.retiredAt) } : {}),
          });
        } catch (error) {
          throw new TypeError(error instanceof AuditKeyUnusableError ? error.message : 'unreadable PEM');
        }
      },
    });
  }

  /** The directory's keys, or a first key generated into it when it holds none. */
  async loadOrGenerate(now: Date): Promise<AuditKey[]> {
    const keys = await this.load();
    if (keys.length > 0) return keys;
    await this.write(generateAuditKey(now));
    // Read back rather than return the new key alone: a sealer starting alongside may have written one too.
    return this.load();
  }
}
