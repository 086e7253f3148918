import { createPublicKey } from 'node:crypto';
import { type Config, issuerOf } from '@bastion/infra/config/config';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import {
  AccessTokenVerifier,
  KeyDirectory,
  loadSigningKeys,
  publicJwks,
  publishedSigningKeys,
  signAccessToken,
  SigningKeyRing,
  signTypedToken,
} from '@bastion/infra/crypto/jwt';
import { jwtVerify } from 'jose';
import type { AccessTokens, IssuedAccessToken } from './access-tokens';
import type { AuthenticatedPrincipal } from './principal';

const RELOAD_INTERVAL_MS = 60_000;
const CHALLENGE_TYP = 'mfa-challenge+jwt';

/**
 * The token service over the signing-key ring. Keys come from `JWT_SIGNING_KEYS` or the key directory, and are
 * reloaded every minute so that `bastion keys rotate` on the same directory takes effect without a restart.
 */
export class JwtAccessTokens implements AccessTokens {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly ring: SigningKeyRing,
    private readonly verifier: AccessTokenVerifier,
    private readonly issuer: string,
    private readonly audience: string,
    private readonly reload: () => Promise<void>,
  ) {}

  static async open(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<JwtAccessTokens> {
    const dir = fromProjectRoot(config.JWT_KEYS_DIR);
    const directory = new KeyDirectory(dir);
    const load = () => loadSigningKeys({ now: new Date(), env: { ...env, NODE_ENV: config.NODE_ENV }, directory });
    const ring = new SigningKeyRing(await load());
    const issuer = issuerOf(config);
    const verifier = new AccessTokenVerifier({ keys: ring, issuer, audience: config.JWT_AUDIENCE });
    const tokens = new JwtAccessTokens(ring, verifier, issuer, config.JWT_AUDIENCE, async () => ring.replace(await load()));
    tokens.timer = setInterval(() => void tokens.reload().catch(() => undefined), RELOAD_INTERVAL_MS);
    tokens.timer.unref();
    return tokens;
  }

  async issue(principal: Omit<AuthenticatedPrincipal, 'amr'> & { amr: string[] }): Promise<IssuedAccessToken> {
    const claims =
      principal.type === 'agent'
        ? { subjectType: 'agent' as const, subject: principal.id, sessionId: principal.sessionId, amr: principal.amr, orgId: principal.orgId! }
        : { subjectType: 'human' as const, subject: principal.id, sessionId: principal.sessionId, amr: principal.amr };
    const signed = await signAccessToken(this.ring.signingKeys(), claims, new Date(), { issuer: this.issuer, audience: this.audience });
    return { token: signed.token, expiresIn: signed.expiresIn };
  }

  async verify(token: string): Promise<AuthenticatedPrincipal> {
    const verified = await this.verifier.verify(token);
    return {
      type: verified.subjectType,
      id: verified.subject,
      sessionId: verified.sessionId,
      amr: verified.amr,
      orgId: verified.subjectType === 'agent' ? verified.orgId : null,
    };
  }

  /**
   * The MFA challenge between a correct password and the second factor: its own `typ` (so it is useless as an
   * access token, and an access token is useless as a challenge), 5 minutes, surviving wrong codes until lockout.
   */
  async issueChallenge(userId: string, amr: string[]): Promise<string> {
    const signed = await signTypedToken(this.ring.signingKeys(), { amr }, new Date(), {
      typ: CHALLENGE_TYP,
      issuer: this.issuer,
      audience: this.audience,
      expiresInSeconds: 300,
      subject: userId,
    });
    return signed.token;
  }

  /** The challenge's user and methods so far, or null for anything else. */
  async verifyChallenge(token: string): Promise<{ userId: string; amr: string[] } | null> {
    try {
      const keys = publishedSigningKeys(this.ring.signingKeys(), new Date());
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          if (header.jku || header.x5u || header.jwk || header.x5c || header.crit) throw new Error('forbidden header');
          const key = keys.find((k) => k.kid === header.kid);
          if (!key) throw new Error('unknown kid');
          return createPublicKey(key.privateKey);
        },
        { algorithms: ['RS256'], typ: CHALLENGE_TYP, issuer: this.issuer, audience: this.audience, clockTolerance: 5, maxTokenAge: '300s' },
      );
      const amr = Array.isArray(payload.amr) ? payload.amr.filter((m): m is string => typeof m === 'string') : [];
      return typeof payload.sub === 'string' ? { userId: payload.sub, amr } : null;
    } catch {
      return null;
    }
  }

  jwks(): { keys: object[] } {
    return publicJwks(this.ring.signingKeys(), new Date()) as unknown as { keys: object[] };
  }

  close(): void {
    clearInterval(this.timer);
  }
}
