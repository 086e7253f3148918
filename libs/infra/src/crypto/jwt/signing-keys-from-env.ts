import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';
import { SigningKeysEnvInvalidError } from './jwt-errors';
import { signingKeyFromPrivateKey, type SigningKey } from './signing-keys';

/**
 * Production signing keys from the environment (a secret manager or KMS export fills it), so no key file has to
 * sit on the server's disk.
 *
 * `JWT_SIGNING_KEYS` is a JSON array with one object per key:
 *
 *     [{ "privateKeyPem": "-----BEGIN PRIVATE KEY-----\nMIIEv…\n-----END PRIVATE KEY-----\n",
 *        "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
 *        "signsFrom": "2025-06-01T12:05:00Z",
 *        "retiredAt": "2025-09-01T12:05:00Z" }]
 *
 * - `privateKeyPem` (required): an RSA private key of at least 2048 bits, PKCS #8 or PKCS #1 PEM, unencrypted,
 *   with its line breaks written as `\n` inside the JSON string.
 * - `kid` (optional): when given, it must equal the key's RFC 7638 thumbprint — a check that the PEM is the key
 *   you meant; the `kid` is always the thumbprint.
 * - `signsFrom` (optional, ISO 8601 with a zone): the instant the key starts signing; without it, always. Ties go
 *   to the later entry in the array.
 * - `retiredAt` (optional, ISO 8601 with a zone): the instant it stops signing; it stays published (JWKS,
 *   verification) for `RETIRED_KEY_RETENTION_SECONDS` (token-policy.ts: 605 s) longer.
 *
 * To rotate: add the next key with `signsFrom` at least the downstream JWKS cache time ahead (five minutes by
 * default), give the current key the same instant as `retiredAt`, redeploy; remove the old entry once its
 * `retiredAt` lies more than the retention period in the past.
 */
export const SIGNING_KEYS_ENV = 'JWT_SIGNING_KEYS';

const instant = z.string().datetime({ offset: true });

const envSchema = z
  .array(
    z
      .object({
        kid: z.string().optional(),
        privateKeyPem: z.string().min(1),
        signsFrom: instant.optional(),
        retiredAt: instant.optional(),
      })
      .strict(),
  )
  .min(1);

/** The keys `JWT_SIGNING_KEYS` describes, or `undefined` when it is unset or empty. */
export async function signingKeysFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<SigningKey[] | undefined> {
  const raw = env[SIGNING_KEYS_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  const invalid = (why: string) => new SigningKeysEnvInvalidError(`${SIGNING_KEYS_ENV} ${why}.`);

  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    // The parser's own message quotes the input, which is a private key.
    throw invalid('is not valid JSON');
  }
  const parsed = envSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${pathOf(issue.path) || 'value'}: ${issue.message}`);
    throw invalid(`must be a JSON array of {privateKeyPem, kid?, signsFrom?, retiredAt?} (${problems.join('; ')})`);
  }

  const keys: SigningKey[] = [];
  for (const [index, entry] of parsed.data.entries()) {
    const signsFrom = entry.signsFrom ? new Date(entry.signsFrom) : new Date(0);
    let key: SigningKey;
    try {
      key = await signingKeyFromPrivateKey(createPrivateKey(entry.privateKeyPem), {
        createdAt: signsFrom,
        signsFrom,
        ...(entry.retiredAt ? { retiredAt: new Date(entry.retiredAt) } : {}),
      });
    } catch (error) {
      throw invalid(`[${index}].privateKeyPem is not a usable RS256 private key (${error instanceof TypeError ? error.message : 'unreadable PEM'})`);
    }
    if (entry.kid !== undefined && entry.kid !== key.kid) {
      throw invalid(`[${index}].kid is ${entry.kid}, but the thumbprint of its key is ${key.kid}`);
    }
    if (keys.some((other) => other.kid === key.kid)) throw invalid(`[${index}] repeats key ${key.kid}`);
    keys.push(key);
  }
  return keys;
}

const pathOf = (path: (string | number)[]): string => path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${part}`)).join('');
