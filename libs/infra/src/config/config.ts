import { z } from 'zod';
import { LOCAL_KEY_REF_PREFIX, parseGcpWrappingKeyRef, parseLocalKeyRef } from '../crypto/kms/kms-key-ref';
import { KeyRefInvalidError } from '../crypto/kms/kms.port';

/**
 * Configuration, validated once at start-up. A missing or wrong value stops the process with one sentence naming
 * it (see {@link ConfigError}), never a stack trace. Nothing here can enable agent approval or merge: there is no
 * such setting, and test/governance guards that no schema gains one.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const url = (protocols: string[], what: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${what} URL (${protocols.join(' or ')})` },
  );

/** Whole seconds from 0 to `max` (0 meaning "not at all"), named in one sentence when wrong. */
const seconds = (max: number) => {
  const message = `must be a whole number of seconds from 0 to ${max}`;
  return z.coerce.number({ invalid_type_error: message }).int(message).min(0, message).max(max, message);
};

/** `host:port` (a bracketed IPv6 address as host), or null. */
export function hostPortOf(value: string): { host: string; port: number } | null {
  const match = /^(\[[0-9a-f:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  return match && port >= 1 && port <= 65535 ? { host: match[1]!, port } : null;
}

/** A key the platform may wrap with: `local://<name>`, or a Cloud KMS crypto key (never one of its versions). */
function wrappingKeyRefProblem(value: string): string | null {
  try {
    if (value.startsWith(LOCAL_KEY_REF_PREFIX)) parseLocalKeyRef(value);
    else parseGcpWrappingKeyRef(value);
    return null;
  } catch (error) {
    if (!(error instanceof KeyRefInvalidError)) throw error;
    const prefix = `Invalid key reference ${JSON.stringify(value)}: `;
    return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  }
}

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    /** The address the API listens on: loopback unless a deployment opens it (`0.0.0.0` in a container). */
    HOST: z.string().min(1).default('127.0.0.1'),
    /**
     * The bootstrap and migration login; apps log in as their own roles on the same server and database. In
     * production each long-running process is given its own login here instead (database/process-logins.ts).
     */
    DATABASE_URL: url(['postgres:', 'postgresql:'], 'PostgreSQL').default('postgres://postgres@127.0.0.1:5432/bastion'),
    REDIS_URL: url(['redis:', 'rediss:'], 'Redis').default('redis://127.0.0.1:6379'),
    /** Prefix of every Redis key and pub/sub channel, so runs and deployments sharing a server stay apart. */
    REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, ":", "_" or "-" only').default('bastion'),
    EVENT_STORE: z.enum(['postgres', 'eventstoredb']).default('postgres'),
    EVENTSTOREDB_URL: url(['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrent:'], 'EventStoreDB').optional(),
    /** Comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed; empty means the socket address. */
    TRUST_PROXY: z.string().default(''),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    PROJECTOR_POLL_MS: z.coerce.number().int().min(5).max(10_000).default(100),
    BASTION_APP_DB_PASSWORD: z.string().optional(),
    BASTION_PROJECTOR_DB_PASSWORD: z.string().optional(),
    BASTION_WORKER_DB_PASSWORD: z.string().optional(),
    BASTION_SEALER_DB_PASSWORD: z.string().optional(),
    /** The sealer's audit signing keys (Ed25519, 0600 files): only the sealer process opens this directory. */
    AUDIT_KEYS_DIR: z.string().default('.data/keys/audit'),
    AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    AUDIT_CHECKPOINT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    AUDIT_VERIFY_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3600),
    /** Files of the audit-exports job (0600, per org): the worker writes them, the API streams them. Shared by both. */
    AUDIT_EXPORTS_DIR: z.string().default('.data/audit-exports'),
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(10_000),
    METRICS_ENABLED: bool.default('true'),
    /** `iss` of access tokens; defaults to http://localhost:<PORT>. */
    JWT_ISSUER: z.string().url().optional(),
    JWT_AUDIENCE: z.string().min(1).default('bastion-api'),
    /** Where development signing keys live (0600 files); production may pass JWT_SIGNING_KEYS instead. */
    JWT_KEYS_DIR: z.string().default('.data/keys/jwt'),
    JWT_SIGNING_KEYS: z.string().optional(),
    /** Root of the API's symmetric secrets (refresh-token MAC, session proofs); required in production. */
    BASTION_SERVER_SECRET: z.string().optional(),
    BASTION_SERVER_SECRET_FILE: z.string().default('.data/keys/server-secret'),
    /** Origins allowed to sign in, refresh and log out (CSRF); defaults to http://localhost:<PORT>, http://127.0.0.1:<PORT>. */
    ALLOWED_ORIGINS: z.string().optional(),
    /** Base URL of links in emails; defaults to http://localhost:<PORT>. */
    PUBLIC_URL: z.string().url().optional(),
    SMTP_URL: url(['smtp:', 'smtps:'], 'SMTP').optional(),
    MAIL_FROM: z.string().default('Bastion <no-reply@bastion.localhost>'),
    MAIL_OUTBOX: z.string().default('.data/mail'),
    /** Fernet keys for TOTP secrets at rest (comma-separated; first encrypts). Development generates one. */
    FERNET_KEYS: z.string().optional(),
    FERNET_KEYS_FILE: z.string().default('.data/keys/fernet'),
    /** Bare repositories live here: `<root>/<org>/<repo>.git`. */
    REPOS_ROOT: z.string().default('.data/repos'),
    /** Where the pre-receive hook asks; defaults to the API itself on loopback. */
    GIT_HOOK_URL: z.string().url().optional(),
    /** Limits of one sandboxed test run (DESIGN §7): wall time, and memory (RLIMIT_DATA) in MiB. */
    TEST_RUN_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(600_000),
    TEST_RUN_MEMORY_MB: z.coerce.number().int().min(64).max(65_536).default(2048),
    /** How long the refresh token just rotated away still returns the same successor (DESIGN §5: 10 s). */
    REFRESH_GRACE_SECONDS: z.coerce.number().int().min(1).max(60).default(10),
    /** How often live sockets' sessions and rooms are re-checked. */
    LIVE_SWEEP_MS: z.coerce.number().int().min(50).max(60_000).default(5000),
    SESSION_IDLE_SECONDS: z.coerce.number().int().min(300).max(90 * 86400).default(7 * 86400),
    SESSION_ABSOLUTE_SECONDS: z.coerce.number().int().min(300).max(365 * 86400).default(30 * 86400),
    /** The local KMS keyring (development, tests, and the platform key unless that is a Cloud KMS key). */
    KMS_LOCAL_DIR: z.string().default('.data/kms'),
    /** The key that wraps the DEK of orgs without a key of their own, and every person key. */
    KMS_PLATFORM_KEY: z
      .string()
      .superRefine((value, ctx) => {
        const problem = wrappingKeyRefProblem(value);
        if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be ${LOCAL_KEY_REF_PREFIX}<name> or a Cloud KMS crypto key: ${problem}` });
      })
      .default('local://platform'),
    /** How long a plaintext org DEK may stay in memory (DESIGN §9: 30 s; 0 caches nothing). */
    DATA_KEY_TTL_SECONDS: seconds(3600).default(30),
    /**
     * How long an unwrapped person key may stay in memory (0 caches nothing). Reads check the key table every time,
     * so an erasure shows at once; sealing uses the cached key, which an erasure evicts at once over Redis — only a
     * process whose eviction subscription is down may keep using it for that long.
     */
    PERSON_KEY_TTL_SECONDS: seconds(3600).default(300),
    /**
     * Google Cloud KMS at `host:port`: on a loopback host in plaintext with no credentials (the gRPC KMS test
     * server), anywhere else over TLS with Application Default Credentials.
     */
    GCP_KMS_ENDPOINT: z.string().refine((value) => hostPortOf(value) !== null, 'must be host:port').optional(),
    /** Application Default Credentials; when set (or GCP_KMS_ENDPOINT is), Google Cloud KMS is enabled. */
    GOOGLE_APPLICATION_CREDENTIALS: z.string().optional(),
  })
  .superRefine((config, ctx) => {
    if (config.EVENT_STORE === 'eventstoredb' && !config.EVENTSTOREDB_URL) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['EVENTSTOREDB_URL'], message: 'is required when EVENT_STORE=eventstoredb' });
    }
  });

export type Config = z.infer<typeof configSchema>;

export function issuerOf(config: Config): string {
  return config.JWT_ISSUER ?? `http://localhost:${config.PORT}`;
}

export function publicUrlOf(config: Config): string {
  return (config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).replace(/\/$/, '');
}

export function allowedOriginsOf(config: Config): string[] {
  if (config.ALLOWED_ORIGINS) return config.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  return [`http://localhost:${config.PORT}`, `http://127.0.0.1:${config.PORT}`];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}.`);
    this.name = 'ConfigError';
  }
}

/** Settings that hold no secret, so a wrong value is repeated in the message. */
const ECHOED = new Set(['KMS_PLATFORM_KEY', 'DATA_KEY_TTL_SECONDS', 'PERSON_KEY_TTL_SECONDS', 'GCP_KMS_ENDPOINT']);

/** Reads the environment; empty strings count as unset, so `FOO=` falls back to the default. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const key = issue.path.join('.');
        if (key === 'EVENT_STORE') return `EVENT_STORE must be "postgres" or "eventstoredb" (got ${JSON.stringify(env.EVENT_STORE)})`;
        return ECHOED.has(key) ? `${key} ${issue.message} (got ${JSON.stringify(env[key])})` : `${key} ${issue.message}`;
      }),
    );
  }
  return parsed.data;
}

export const CONFIG = Symbol('Config');
