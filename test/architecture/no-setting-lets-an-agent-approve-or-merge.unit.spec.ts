/**
 * DESIGN §7: "There is no setting, flag or environment variable that lets an agent approve or merge." This test
 * gathers every name a deployment or an org admin can set — the process configuration schema, every environment
 * variable read anywhere in the code, docker-compose, the Dockerfile and any .env example, the org merge-request
 * policy (its request body and its domain type), and every column the migrations create — and fails if one of them
 * looks like a way around human approval. It also proves the required number of approvals cannot be 0 at any layer.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync } from 'class-validator';
import { MergeRequestPolicyRequest } from '../../apps/api/src/code/merge-request-policy.http.controller';
import { InvalidMergeRequestPolicyError, mergeRequestPolicy } from '../../libs/domain/src';
import { configSchema } from '../../libs/infra/src/config/config';

const ROOT = join(__dirname, '..', '..');

/** Names that would open a path around human approval; matched on the name lower-cased without separators. */
const FORBIDDEN: RegExp[] = [
  /agent.*(approv|merg)/,
  /(approv|merg).*agent/,
  /bypass/,
  /skip.*(approv|review|mfa|protect|hook|test)/,
  /allow.*(approv|merg|pushtomain|mainpush)/,
  /disable.*(approv|review|mfa|protect|hook|governance)/,
  /auto(approv|merg)/,
  /selfapprov/,
  /unprotect/,
  /override.*(approv|merg|protect)/,
  /(no|without|zero)(approv|review)/,
  /(approv|review|protect).*(optional|disabled|off)$/,
  /trusted.*(agent|bot)/,
];

function forbidden(name: string): boolean {
  const flat = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return FORBIDDEN.some((pattern) => pattern.test(flat));
}

function files(dir: string, keep: (path: string) => boolean): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    if (['node_modules', 'dist', '.git', '.data', 'coverage'].includes(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...files(path, keep));
    else if (keep(path)) found.push(path);
  }
  return found;
}

const read = (path: string) => readFileSync(path, 'utf8');
const withoutComments = (sql: string) => sql.replace(/\/\*[\s\S]*?\*\//g, '').replace(/--.*$/gm, '');

/** Every settable name, by where it comes from. */
function settableNames(): Record<string, string[]> {
  const sources = files(ROOT, (p) => /\.(ts|js|mjs|cjs)$/.test(p) && !/\.spec\.ts$/.test(p) && /^(apps|libs|bin|scripts)\//.test(relative(ROOT, p)));
  const envReads = new Set<string>();
  for (const path of sources) {
    for (const m of read(path).matchAll(/\b(?:process\.env|env)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[['"]([A-Za-z_][A-Za-z0-9_]*)['"]\])/g)) envReads.add(m[1] ?? m[2]!);
  }
  const compose = read(join(ROOT, 'docker-compose.yml'));
  const envFiles = files(ROOT, (p) => /(^|\/)(\.env[^/]*|[^/]*\.env(\.[^/]*)?)$/.test(p));
  const dockerfile = read(join(ROOT, 'Dockerfile'));
  const policyFields = getMetadataStorage()
    .getTargetValidationMetadatas(MergeRequestPolicyRequest, '', true, false)
    .map((m) => m.propertyName);
  const columns = files(join(ROOT, 'migrations'), (p) => p.endsWith('.sql')).flatMap((path) =>
    [...withoutComments(read(path)).matchAll(/(?:\badd column\s+|^\s+)([a-z_][a-z0-9_]*)\s+(?:uuid|text|boolean|integer|bigint|jsonb|bytea|timestamptz|smallint)\b/gm)].map((m) => m[1]!),
  );
  return {
    configSchema: Object.keys(configSchema.innerType().shape),
    environmentReads: [...envReads],
    dockerCompose: [...compose.matchAll(/^\s*-?\s*([A-Z][A-Z0-9_]{2,})\s*[:=]/gm)].map((m) => m[1]!),
    envExamples: envFiles.flatMap((path) => [...read(path).matchAll(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]!)),
    dockerfile: [...dockerfile.matchAll(/^\s*(?:ENV|ARG)\s+([A-Za-z_][A-Za-z0-9_]*)/gm)].map((m) => m[1]!),
    mergeRequestPolicyRequest: [...new Set(policyFields)],
    mergeRequestPolicy: Object.keys(mergeRequestPolicy({ requiredApprovals: 1, requirePassingTests: false })),
    migrationColumns: [...new Set(columns)],
  };
}

describe('no setting, flag or environment variable lets an agent approve or merge', () => {
  it('the detector flags the names such a setting would have (so the check below can fail)', () => {
    const bad = [
      'ALLOW_AGENT_MERGE',
      'AGENTS_CAN_APPROVE',
      'BYPASS_APPROVAL',
      'approvalBypassList',
      'SKIP_REVIEW',
      'skipApprovalForBots',
      'DISABLE_MFA',
      'disableApproval',
      'AUTO_MERGE',
      'autoApprove',
      'allowSelfApproval',
      'UNPROTECT_MAIN',
      'overrideMergeRules',
      'no_approvals',
      'MERGE_AS_AGENT',
      'approval_optional',
      'trustedAgents',
    ];
    expect(bad.filter((name) => !forbidden(name))).toEqual([]);
    expect(['requiredApprovals', 'requirePassingTests', 'REPOS_ROOT', 'GIT_HOOK_URL', 'WORKER_CONCURRENCY', 'mfa_required'].filter(forbidden)).toEqual([]);
  });

  it('the names gathered are the real ones (the gathering is not empty)', () => {
    const names = settableNames();
    expect(names.configSchema).toEqual(expect.arrayContaining(['DATABASE_URL', 'REPOS_ROOT', 'TEST_RUN_TIMEOUT_MS']));
    expect(names.environmentReads.length).toBeGreaterThan(0);
    expect(names.dockerCompose).toEqual(expect.arrayContaining(['DATABASE_URL', 'EVENT_STORE']));
    expect(names.dockerfile).toContain('NODE_ENV');
    expect(names.migrationColumns).toEqual(expect.arrayContaining(['required_approvals', 'require_passing_tests', 'mfa_required']));
  });

  it('no configuration schema, environment variable, compose file, .env example, org policy field or column opens a path around human approval', () => {
    const offending = Object.entries(settableNames()).flatMap(([source, names]) => names.filter(forbidden).map((name) => `${source}: ${name}`));
    expect(offending).toEqual([]);
  });

  it('the org merge-request policy has exactly two fields: the number of human approvals and whether a passing run is required', () => {
    const names = settableNames();
    expect(names.mergeRequestPolicyRequest.sort()).toEqual(['requirePassingTests', 'requiredApprovals']);
    expect(names.mergeRequestPolicy.sort()).toEqual(['requirePassingTests', 'requiredApprovals']);
  });

  it('requiredApprovals cannot be 0: not in the request body, not in the domain, not in the database', () => {
    const errorsFor = (requiredApprovals: unknown) =>
      validateSync(plainToInstance(MergeRequestPolicyRequest, { requiredApprovals, requirePassingTests: false }), { whitelist: true, forbidNonWhitelisted: true });
    expect(errorsFor(1)).toEqual([]);
    for (const n of [0, -1, 0.5, '1', null]) expect(errorsFor(n).map((e) => e.property)).toEqual(['requiredApprovals']);
    expect(() => mergeRequestPolicy({ requiredApprovals: 0, requirePassingTests: false })).toThrow(InvalidMergeRequestPolicyError);
    const sql = files(join(ROOT, 'migrations'), (p) => p.endsWith('.sql')).map((p) => withoutComments(read(p))).join('\n');
    expect(sql).toMatch(/required_approvals integer not null default 1 check \(required_approvals >= 1\)/);
    expect(sql).not.toMatch(/drop constraint[^;]*required_approvals/i);
    expect(sql).toMatch(/p_required_approvals < 1[^;]*raise exception/);
  });
});
