import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type AuditJwks, describeVerification, verifyCsvExport, verifyExport } from '@bastion/infra/audit';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import { SYSTEM_ACTOR, toNewEvents } from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { loadConfig } from '@bastion/infra/config/config';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import { KeyDirectory, rotateSigningKeys } from '@bastion/infra/crypto/jwt';
import { erasePerson, personEmailLookupKey, publishPersonKeyEviction } from '@bastion/infra/crypto/person-keys';
import { loadServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { loadFernetKeys, TotpSecretBox } from '@bastion/infra/mfa/totp-secret-box';
import { openRedis } from '@bastion/infra/queue/redis';
import { bootstrapRoles } from '@bastion/infra/database/bootstrap-roles';
import { migrate } from '@bastion/infra/database/migrate';
import { databaseName, redactUrl, withDatabase } from '@bastion/infra/database/role-urls';
import { runMain, StartupError, unreachable } from '@bastion/infra/runtime/startup-error';

const USAGE = `usage: bastion <command>
  bootstrap            create or align the cluster-wide roles (needs a superuser DATABASE_URL)
  migrate              create the database if missing and apply pending migrations (idempotent)
  setup                bootstrap, then migrate
  rebuild <name|all>   empty a read model and replay it from position 0
  replay [<name|all>] [--swap]
                       compliance replay: rebuild into a shadow schema, compare row by row, optionally swap in
  keys rotate          add the next JWT signing key (published now, signing in 5 minutes) and retire the current one
  keys rotate-fernet   re-encrypt every stored TOTP secret under the first key of FERNET_KEYS
  audit verify <export.jsonl|csv> --keys <url|file>
                       recompute every hash, check every checkpoint signature; names the first bad record
  providers create <name>                 create a provider (an MSP); prints its id
  providers grant-admin <provider> <email> make a verified user Provider Admin of every org of the provider
  providers revoke-admin <provider> <email>
  providers attach <provider> <org>        put an organisation under a provider
  erase-person <userId|email>
                       crypto-shredding: delete the person's keys, so their email, name, IP addresses and user
                       agents in every event (and export) can no longer be read; records PersonErased
`;

/** Creates DATABASE_URL's database when it does not exist, through the server's maintenance database. */
async function ensureDatabase(adminUrl: string): Promise<boolean> {
  const name = databaseName(adminUrl);
  const client = new Client({ connectionString: withDatabase(adminUrl, 'postgres'), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    throw unreachable('PostgreSQL', adminUrl, error);
  }
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    const { rows } = await client.query<{ statement: string }>("select format('create database %I', $1::text) as statement", [name]);
    await client.query(rows[0]!.statement);
    return true;
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  const config = loadConfig();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  switch (command) {
    case 'bootstrap':
      await bootstrap(config.DATABASE_URL, say);
      return;
    case 'migrate':
      await migrateDatabase(config.DATABASE_URL, say);
      return;
    case 'setup':
      await bootstrap(config.DATABASE_URL, say);
      await migrateDatabase(config.DATABASE_URL, say);
      return;
    case 'keys': {
      if (args[0] === 'rotate-fernet') {
        process.exitCode = await rotateFernet(config, say);
        return;
      }
      if (args[0] !== 'rotate') {
        process.stderr.write(USAGE);
        process.exitCode = 2;
        return;
      }
      const dir = fromProjectRoot(config.JWT_KEYS_DIR);
      const summary = await rotateSigningKeys(new KeyDirectory(dir), new Date());
      say(`signing keys in ${dir}: added ${summary.added.join(', ')} (signs from ${summary.signsFrom.toISOString()})`);
      if (summary.retired.length) say(`retired: ${summary.retired.join(', ')} (published until their tokens expire)`);
      if (summary.removed.length) say(`removed: ${summary.removed.join(', ')}`);
      say('running APIs pick the new key set up within a minute; downstream verifiers see it in the JWKS at once.');
      return;
    }
    case 'audit': {
      process.exitCode = await auditVerify(args, say);
      return;
    }
    case 'providers': {
      await providers(config.DATABASE_URL, args, say);
      return;
    }
    case 'erase-person': {
      if (!args[0]) throw new StartupError('usage: bastion erase-person <userId|email>');
      const secretFile = fromProjectRoot(config.BASTION_SERVER_SECRET_FILE);
      const pool = new Pool({ connectionString: config.DATABASE_URL, max: 1 });
      // Redis carries the eviction to running processes; without it the erasure still happens, and says what it missed.
      const redis = await openRedis(config.REDIS_URL).catch(() => null);
      try {
        const evictions = redis === null ? undefined : { publish: (subject: string) => publishPersonKeyEviction(redis, config.REDIS_PREFIX, subject) };
        const lookupKey = personEmailLookupKey(loadServerSecrets(config, secretFile));
        const erased = await erasePerson(pool, new PostgresEventStore(pool), lookupKey, args[0], { evictions });
        say(`erased: ${erased.keysDeleted} key(s)${erased.userId ? ` of user ${erased.userId}` : ''}; recorded in ${erased.streamId}`);
        if (erased.evictionsPublished) say('running processes were told to drop the erased key(s) from memory');
        else
          process.stderr.write(
            `warning: could not tell running processes through Redis (${redactUrl(config.REDIS_URL)}); they may seal new values under ` +
              `the erased key(s) for up to PERSON_KEY_TTL_SECONDS (${config.PERSON_KEY_TTL_SECONDS} s). Run erase-person again to retry.\n`,
          );
      } finally {
        redis?.disconnect();
        await pool.end();
      }
      return;
    }
    case 'replay':
    case 'rebuild': {
      // Projections belong to the projector; one app never imports another, so the CLI hands over to it.
      const result = spawnSync(process.execPath, [join(__dirname, '../../projector/src/main.js'), command, ...args], {
        stdio: 'inherit',
      });
      process.exitCode = result.status ?? 1;
      return;
    }
    default:
      process.stderr.write(USAGE);
      process.exitCode = command ? 2 : 0;
  }
}

async function bootstrap(adminUrl: string, say: (line: string) => void) {
  await ensureDatabase(adminUrl);
  try {
    await bootstrapRoles(adminUrl);
  } catch (error) {
    if ((error as { code?: string }).code === '42501') {
      throw new StartupError(`The login of ${redactUrl(adminUrl)} may not create roles; bootstrap needs a superuser DATABASE_URL.`);
    }
    throw error;
  }
  say('roles: bastion_owner, bastion_authz (NOLOGIN); bastion_app, bastion_projector, bastion_worker, bastion_sealer (LOGIN) are in place');
}

async function migrateDatabase(adminUrl: string, say: (line: string) => void) {
  const created = await ensureDatabase(adminUrl);
  if (created) say(`database ${databaseName(adminUrl)}: created`);
  const { applied } = await migrate(adminUrl);
  say(applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations: already up to date');
}

/**
 * Provider tenancy is granted only here, by the platform operator (who holds DATABASE_URL): no API route and no
 * org Admin can make anyone a Provider Admin (DESIGN §6). Every change is an event, by the system actor.
 */
async function providers(adminUrl: string, args: string[], say: (line: string) => void) {
  const [action, first, second] = args;
  const pool = new Pool({ connectionString: adminUrl, max: 1 });
  const store = new PostgresEventStore(pool);
  const event = (type: string, data: Record<string, unknown>, orgId: string | null = null) =>
    toNewEvents([{ type, data }], {
      orgId,
      actor: SYSTEM_ACTOR,
      authMethod: 'operator-cli',
      correlationId: uuidv7(),
      now: new Date(),
      newId: () => uuidv7(),
    });
  const userByEmail = async (email: string) => {
    const { rows } = await pool.query('select id from authz.users where email_normalized = $1 and email_verified_at is not null', [normalizeEmail(email)]);
    if (!rows[0]) throw new StartupError(`No verified user has the email ${email}.`);
    return rows[0].id as string;
  };
  try {
    switch (action) {
      case 'create': {
        if (!first) throw new StartupError('usage: bastion providers create <name>');
        const id = uuidv7();
        await pool.query('insert into authz.providers (id, name) values ($1, $2)', [id, first]);
        await store.append(`provider-${id}`, event('ProviderCreated', { providerId: id, name: first }), 'no_stream');
        say(`provider ${first}: ${id}`);
        return;
      }
      case 'grant-admin':
      case 'revoke-admin': {
        if (!first || !second) throw new StartupError(`usage: bastion providers ${action} <provider> <email>`);
        const userId = await userByEmail(second);
        if (action === 'grant-admin') {
          await pool.query('insert into authz.provider_admins (provider_id, user_id) values ($1, $2) on conflict do nothing', [first, userId]);
        } else {
          await pool.query("update authz.sessions set revoked_at = now(), revoked_reason = 'provider_admin_revoked' where principal_id = $1 and revoked_at is null", [userId]);
          await pool.query('delete from authz.provider_admins where provider_id = $1 and user_id = $2', [first, userId]);
        }
        await store.append(`provider-${first}`, event(action === 'grant-admin' ? 'ProviderAdminGranted' : 'ProviderAdminRevoked', { providerId: first, userId }), 'stream_exists');
        say(`${action === 'grant-admin' ? 'granted' : 'revoked'}: ${second} on provider ${first}`);
        return;
      }
      case 'attach': {
        if (!first || !second) throw new StartupError('usage: bastion providers attach <provider> <org>');
        const { rowCount } = await pool.query('update authz.organizations set provider_id = $1 where org_id = $2', [first, second]);
        if (!rowCount) throw new StartupError(`No organisation ${second}.`);
        await store.append(`org-${second}`, event('OrganizationAttachedToProvider', { orgId: second, providerId: first }, second), 'stream_exists');
        say(`organisation ${second} is now provided by ${first}`);
        return;
      }
      default:
        throw new StartupError('usage: bastion providers create|grant-admin|revoke-admin|attach …');
    }
  } finally {
    await pool.end();
  }
}

/**
 * MultiFernet rotation: put the new key first in FERNET_KEYS (keeping the old ones), run this, then drop the old
 * keys. Each row is re-encrypted under the first key in its own short transaction (compare-and-set on the token).
 */
/**
 * Re-encrypts every stored TOTP secret under the first key of FERNET_KEYS, row by row with a compare-and-set, so an
 * enrolment racing the rotation is never overwritten. A secret that no listed key opens is left exactly as it is and
 * named (by user id) on stderr, and the command exits 1: dropping a key that still guards secrets must not pass quietly.
 */
async function rotateFernet(config: ReturnType<typeof loadConfig>, say: (line: string) => void): Promise<number> {
  const file = fromProjectRoot(config.FERNET_KEYS_FILE);
  const box = new TotpSecretBox(loadFernetKeys(config, file));
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 1 });
  let rotated = 0;
  const unopened: string[] = [];
  try {
    const { rows } = await pool.query<{ user_id: string; secret_token: string }>('select user_id, secret_token from authz.totp_credentials order by user_id');
    for (const row of rows) {
      const next = box.rotate(row.secret_token);
      if (next === null) {
        unopened.push(row.user_id);
        continue;
      }
      const { rowCount } = await pool.query('update authz.totp_credentials set secret_token = $1 where user_id = $2 and secret_token = $3', [next, row.user_id, row.secret_token]);
      rotated += rowCount ?? 0;
    }
  } finally {
    await pool.end();
  }
  say(`re-encrypted ${rotated} TOTP secret(s) under the first Fernet key`);
  if (!unopened.length) return 0;
  process.stderr.write(`${unopened.length} TOTP secret(s) open under no key in FERNET_KEYS and were left unchanged; users: ${unopened.join(', ')}\n`);
  return 1;
}

/** `bastion audit verify <file> --keys <url|file>`: exit 0 when verified, 1 with the first problem otherwise. */
async function auditVerify(args: string[], say: (line: string) => void): Promise<number> {
  const [action, file, flag, keysAt] = args;
  if (action !== 'verify' || !file || flag !== '--keys' || !keysAt) {
    process.stderr.write('usage: bastion audit verify <export.jsonl|export.csv> --keys <url|file>\n');
    return 2;
  }
  const jwks = (/^https?:\/\//.test(keysAt) ? await (await fetch(keysAt)).json() : JSON.parse(readFileSync(keysAt, 'utf8'))) as AuditJwks;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const result = file.endsWith('.csv') ? await verifyCsvExport(lines, jwks) : await verifyExport(lines, jwks);
  say(describeVerification(result));
  return result.ok ? 0 : 1;
}

runMain('bastion', main);
