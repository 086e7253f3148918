import { Body, Controller, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiTags, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { type SignInFailed, toNewEvents } from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import type { SignInLimiter } from '@bastion/infra/identity/sign-in-limiter';
import type { JobQueue } from '@bastion/infra/queue/job-queue';
import { IsString, MaxLength } from 'class-validator';
import type { Response } from 'express';
import { ACCESS_TOKENS, type AccessTokens } from '../../auth/access-tokens';
import { unauthenticated } from '../../auth/authentication.guard';
import { BrowserCredentialsGuard } from '../../auth/browser-credentials.guard';
import { Public } from '../../auth/public.decorator';
import { setRefreshCookie } from '../../auth/refresh-cookie';
import { type BastionRequest, commandContext, requestIdOf } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { AfterResponse } from '../../http/after-response';
import { ProblemError, problemType } from '../../http/problem';
import { PASSWORD_HASHING, type PasswordHashing } from '../identity.ports';
import { PersonalData } from '../personal-data/personal-data';
import { SessionIssuer } from '../session-issuer';
import { SIGN_IN_LIMITER, THROTTLE_REPORTS } from '../identity.tokens';

export class PasswordSignInRequest {
  @ApiProperty()
  @IsString()
  @MaxLength(254)
  email!: string;

  @ApiProperty()
  @IsString()
  @MaxLength(1024)
  password!: string;
}

export class AccessTokenResponse {
  @ApiProperty() accessToken!: string;
  @ApiProperty({ example: 'Bearer' }) tokenType!: 'Bearer';
  @ApiProperty({ example: 600 }) expiresIn!: number;
}

@ApiTags('auth')
@Controller('v1/auth')
export class SignInWithPasswordController {
  constructor(
    private readonly db: SessionDatabase,
    private readonly sessions: SessionIssuer,
    @Inject(PASSWORD_HASHING) private readonly passwords: PasswordHashing,
    @Inject(SIGN_IN_LIMITER) private readonly limiter: SignInLimiter,
    @Inject(THROTTLE_REPORTS) private readonly throttleReports: JobQueue<'sign-in-throttle-reports'>,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
    private readonly personal: PersonalData,
    private readonly after: AfterResponse,
  ) {}

  @Public()
  @UseGuards(BrowserCredentialsGuard)
  @Post('password')
  @HttpCode(200)
  @ApiOkResponse({
    type: AccessTokenResponse,
    description: 'Signed in (the refresh token is in the __Host-bastion_rt cookie), or, with TOTP, {challenge} for POST /v1/auth/mfa/verify.',
  })
  @ApiUnauthorizedResponse({ description: 'Wrong email or password (the same answer for both).' })
  @ApiTooManyRequestsResponse({ description: 'Too many failures for this account or address; see Retry-After.' })
  async signIn(
    @Body() body: PasswordSignInRequest,
    @Req() req: BastionRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AccessTokenResponse | { challenge: string; challengeType: 'totp' }> {
    const normalized = normalizeEmail(body.email);
    // Keyed (HMAC under a server key), so the limiter's Redis keys and jobs cannot be reversed with a list of emails.
    const hashOfEmail = this.personal.keys.emailLookupOf(normalized).toString('hex');
    const ip = req.ip ?? 'unknown';

    const gate = await this.limiter.check(hashOfEmail, ip);
    if (!gate.allowed) {
      if (gate.firstOfBurst) {
        // After the answer too: preparing the email's person key costs time only for an email nobody has used.
        this.after.run(
          res,
          { what: 'sign-in throttle report', requestId: requestIdOf(req), secrets: [body.email, normalized, body.password] },
          () => this.reportThrottle(req, normalized, hashOfEmail, ip, gate),
        );
      }
      res.setHeader('Retry-After', String(gate.retryAfterSeconds));
      throw new ProblemError({ type: problemType('too-many-attempts'), title: 'too many failed sign-ins; try again later', status: 429 });
    }

    const user = await this.db.anonymous((tx) => new IdentityRepository(tx).signInLookup(normalized));
    // Outside any transaction: a password hash never holds one open. Unknown emails cost the same time.
    let ok = false;
    if (user?.password_hash && !user.disabled) ok = await this.passwords.verify(user.password_hash, body.password);
    else await this.passwords.dummyVerify();

    if (!ok) {
      const { lockedForSeconds } = await this.limiter.recordFailure(hashOfEmail, ip);
      const reason: SignInFailed['data']['reason'] = user?.disabled ? 'disabled' : lockedForSeconds ? 'locked' : 'bad_credentials';
      // Recorded after the answer, so its timing cannot tell a known email from an unknown one: the first failure
      // for an email nobody has used creates that email's person key (a KMS wrap and an insert), and the event goes
      // to an account's stream or to a stream of its own. The limiter above has already counted the failure.
      this.after.run(
        res,
        { what: 'sign-in failure record', requestId: requestIdOf(req), secrets: [body.email, normalized, body.password], serialKey: `sign-in:${hashOfEmail}` },
        () => this.recordFailure(req, normalized, user?.user_id ?? null, reason),
      );
      throw unauthenticated();
    }

    await this.limiter.recordSuccess(hashOfEmail);
    if (this.passwords.needsRehash(user!.password_hash!)) {
      const rehashed = await this.passwords.hash(body.password);
      await this.db.anonymous((tx) => new IdentityRepository(tx).rehashPassword(user!.user_id, user!.password_hash!, rehashed));
    }
    // From memory after the first sign-in; loaded here, outside the session's transaction, when it is not.
    await this.personal.prepare(req, user!.user_id);
    // With TOTP, the password earns only a challenge: no session, no cookie, until the second factor.
    const hasTotp = await this.db.anonymous(async (tx) => (await tx.query<{ ok: boolean }>('select authz.has_active_totp($1) as ok', [user!.user_id])).rows[0]!.ok);
    if (hasTotp) return { challenge: await this.tokens.issueChallenge(user!.user_id, ['pwd']), challengeType: 'totp' };
    const started = await this.db.anonymous((tx) =>
      this.sessions.start(tx, req, { type: 'human', id: user!.user_id, orgId: null }, 'password', ['pwd']),
    );
    setRefreshCookie(res, started.refreshToken!, started.refreshMaxAge);
    return { accessToken: started.accessToken, tokenType: 'Bearer', expiresIn: started.expiresIn };
  }

  /** Keys before the transaction: the named email's (its pseudonym correlates attempts), and the account's when
   * there is one (the request's IP address and user agent are sealed for it; else for the email's person). */
  private async recordFailure(req: BastionRequest, normalized: string, userId: string | null, reason: SignInFailed['data']['reason']): Promise<void> {
    const emailPerson = await this.personal.prepareEmail(req, normalized);
    if (userId) await this.personal.prepare(req, userId);
    const [event] = toNewEvents<SignInFailed>(
      [{ type: 'SignInFailed', data: { userId, emailHash: emailPerson.subject, reason } }],
      commandContext(req, {
        actor: userId ? { type: 'human', id: userId } : { type: 'system', id: 'anonymous' },
        authMethod: 'password',
        personSubject: userId ? userId.toLowerCase() : emailPerson.subject,
      }),
    );
    // Another API process may append to the account's stream at the same moment: authz.append_event waits for it
    // (a per-stream lock, migration 0023) and appends after it.
    await this.db.anonymous((tx) => new IdentityRepository(tx).recordSignInFailure(userId, event!));
  }

  /** The first refusal of a burst queues one report (SignInThrottled, written by the worker when the lock ends). */
  private async reportThrottle(
    req: BastionRequest,
    normalized: string,
    hashOfEmail: string,
    ip: string,
    gate: { scope: 'account' | 'ip'; retryAfterSeconds: number },
  ): Promise<void> {
    const user = await this.db.anonymous((tx) => new IdentityRepository(tx).signInLookup(normalized));
    const subject = gate.scope === 'account' ? hashOfEmail : ip;
    // The report names the email only by its erasable pseudonym (its person subject), never by a hash of it.
    const emailPerson = await this.personal.prepareEmail(req, normalized);
    await this.throttleReports.add(
      `sign-in-throttled-${gate.scope}-${subject.replace(/[^A-Za-z0-9]/g, '_')}-${Date.now()}`,
      {
        scope: gate.scope,
        subject,
        userId: user?.user_id ?? null,
        emailHash: emailPerson.subject,
        windowSeconds: gate.retryAfterSeconds,
        correlationId: commandContext(req).correlationId,
      },
      { delayMs: gate.retryAfterSeconds * 1000 },
    );
  }
}
