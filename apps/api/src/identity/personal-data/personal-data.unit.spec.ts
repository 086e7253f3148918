import { randomBytes } from 'node:crypto';
import { loadConfig } from '@bastion/infra/config/config';
import { generateDataKey } from '@bastion/infra/crypto/envelope';
import { LocalKms } from '@bastion/infra/crypto/kms';
import { KmsRouter } from '@bastion/infra/crypto/org-keys';
import { DEFAULT_PERSON_KEY_TTL_SECONDS, openPersonal, type PersonKey } from '@bastion/infra/crypto/person-keys';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { type BastionRequest, clientOf, commandContext } from '../../auth/request-context';
import { personKeyServiceOf } from './personal-data.module';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const alice: PersonKey = { subject: ALICE, dataKey: generateDataKey(1) };

function request(keys: PersonKey[], principal?: { id: string }): BastionRequest {
  const headers: Record<string, string> = { 'user-agent': 'Probe/1.0' };
  return {
    ip: '203.0.113.9',
    header: (name: string) => headers[name.toLowerCase()],
    personKeys: { get: (subject: string) => keys.find((k) => k.subject === subject) },
    ...(principal ? { principal: { type: 'human', id: principal.id, sessionId: 's', amr: ['pwd'], orgId: null } } : {}),
  } as unknown as BastionRequest;
}

describe('commandContext and personal data', () => {
  it('seals the IP address and user agent for the acting person, bound to the request id', () => {
    const req = request([alice], { id: ALICE.toUpperCase() });
    const ctx = commandContext(req);
    expect(ctx.ip).toMatch(new RegExp(`^pd1:${ALICE}:`));
    expect(openPersonal(alice, ctx.ip!, { record: ctx.requestId!, field: 'request.ip' })).toBe('203.0.113.9');
    expect(openPersonal(alice, ctx.userAgent!, { record: ctx.requestId!, field: 'request.userAgent' })).toBe('Probe/1.0');
  });

  it('seals for the named person when the actor is nobody (a failed sign-in for an unknown email)', () => {
    const emailPerson: PersonKey = { subject: `e-${ALICE}`, dataKey: generateDataKey(1) };
    const ctx = commandContext(request([emailPerson]), { personSubject: emailPerson.subject });
    expect(ctx.actor).toEqual({ type: 'system', id: 'anonymous' });
    expect(ctx.ip).toMatch(/^pd1:e-/);
  });

  it('leaves them out, never in plaintext, when the person’s key is not loaded or there is no person', () => {
    expect(commandContext(request([], { id: ALICE }))).toMatchObject({ ip: null, userAgent: null });
    expect(commandContext(request([alice]))).toMatchObject({ ip: null, userAgent: null });
    expect(commandContext(request([alice], { id: ALICE }), { personSubject: null })).toMatchObject({ ip: null, userAgent: null });
  });

  it('clientOf gives the plaintext, for mutable tables only', () => {
    expect(clientOf(request([]))).toEqual({ ip: '203.0.113.9', userAgent: 'Probe/1.0' });
  });
});

describe('the person-key service of the API', () => {
  const secrets: ServerSecrets = { refreshTokenKey: randomBytes(32), sessionProofKey: randomBytes(32), agentKeyHashKey: randomBytes(32), recoveryCodeKey: randomBytes(32) };
  const router = new KmsRouter({ local: new LocalKms({ directory: '/nonexistent/bastion-kms' }) });

  it('takes its cache age and platform key from the configuration (defaults 300 s and local://platform)', () => {
    const defaults = personKeyServiceOf(router, loadConfig({}), secrets);
    expect(defaults.cache.ttlSeconds).toBe(DEFAULT_PERSON_KEY_TTL_SECONDS);
    expect(defaults.keyRef).toBe('local://platform');
    const configured = personKeyServiceOf(router, loadConfig({ PERSON_KEY_TTL_SECONDS: '0', KMS_PLATFORM_KEY: 'local://people' }), secrets);
    expect(configured.cache.ttlSeconds).toBe(0);
    expect(configured.keyRef).toBe('local://people');
  });

  it('refuses a platform key the KMS router it is given cannot serve, before any call', () => {
    const cloudKey = 'projects/acme-prod/locations/europe-west1/keyRings/bastion/cryptoKeys/platform';
    expect(() => personKeyServiceOf(router, loadConfig({ KMS_PLATFORM_KEY: cloudKey }), secrets)).toThrow(/Google Cloud KMS is not configured/);
  });
});
