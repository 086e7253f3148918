import { Body, Controller, Delete, HttpCode, Inject, Param, ParseUUIDPipe, Post, Put, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { type DomainEvent, toNewEvents } from '@bastion/domain';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import {
  acceptTotp,
  buildOtpauthUri,
  generateRecoveryCodes,
  generateTotpSecret,
  hashRecoveryCode,
  normalizeRecoveryCode,
  otpauthQrCodeDataUrl,
} from '@bastion/infra/crypto/totp';
import type { MfaLimiter } from '@bastion/infra/mfa/mfa-limiter';
import { MfaRepository } from '@bastion/infra/mfa/mfa.repository';
import type { TotpSecretBox } from '@bastion/infra/mfa/totp-secret-box';
import { IsBoolean, IsOptional, IsString, Length, MaxLength } from 'class-validator';
import type { Response } from 'express';
import { ACCESS_TOKENS, type AccessTokens } from '../auth/access-tokens';
import { unauthenticated } from '../auth/authentication.guard';
import { BrowserCredentialsGuard } from '../auth/browser-credentials.guard';
import { HumansOnly, Public } from '../auth/public.decorator';
import { setRefreshCookie } from '../auth/refresh-cookie';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';
import { PersonalData } from '../identity/personal-data/personal-data';
import { SessionIssuer } from '../identity/session-issuer';
import { AccessTokenResponse } from '../identity/sign-in-with-password/sign-in-with-password.http.controller';
import { SERVER_SECRETS } from '../tokens';
import { MFA_LIMITER, TOTP_SECRET_BOX } from './mfa.tokens';

export class CodeRequest {
  @ApiProperty({ example: '123456' }) @IsString() @Length(6, 10) code!: string;
}

export class VerifyMfaRequest {
  @ApiProperty() @IsString() @MaxLength(4096) challenge!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(6, 10) code?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(32) recoveryCode?: string;
}

export class OrgSecurityRequest {
  @ApiProperty() @IsBoolean() mfaRequired!: boolean;
}

const invalidCode = () => new ProblemError({ type: problemType('invalid-mfa-code'), title: 'the code is not valid', status: 401 });
const locked = (seconds: number) =>
  new ProblemError({ type: problemType('too-many-attempts'), title: 'too many failed MFA attempts; try again later', status: 429, retryAfterSeconds: seconds });

@ApiTags('mfa')
@Controller()
export class MfaController {
  constructor(
    private readonly db: SessionDatabase,
    private readonly sessions: SessionIssuer,
    @Inject(TOTP_SECRET_BOX) private readonly box: TotpSecretBox,
    @Inject(MFA_LIMITER) private readonly limiter: MfaLimiter,
    @Inject(SERVER_SECRETS) private readonly secrets: ServerSecrets,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
    private readonly personal: PersonalData,
  ) {}

  private event(req: BastionRequest, type: string, data: Record<string, unknown>, actorId?: string, orgId: string | null = null) {
    const ctx = commandContext(req, { ...(actorId ? { actor: { type: 'human' as const, id: actorId } } : {}), orgId });
    return toNewEvents([{ type, data } as DomainEvent], ctx)[0]!;
  }

  private recoveryHash(code: string): Buffer {
    return Buffer.from(hashRecoveryCode(code, this.secrets.recoveryCodeKey), 'hex');
  }

  /** Starts TOTP enrolment: the secret (shown now, stored only as a Fernet token), an otpauth:// URI and a QR code. */
  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Post('v1/auth/mfa/totp/enroll')
  @HttpCode(201)
  @ApiCreatedResponse({ description: '{secret, otpauthUri, qrCode (PNG data URL)}' })
  async enroll(@Req() req: BastionRequest) {
    const principal = req.principal!;
    const secret = generateTotpSecret();
    const email = await this.db.as(principal, null, async (tx) => {
      await new MfaRepository(tx).beginEnrolment(this.box.seal(principal.id, secret));
      return (await tx.query<{ email: string }>('select authz.my_email() as email')).rows[0]!.email;
    });
    const otpauthUri = buildOtpauthUri(secret, email);
    return { secret, otpauthUri, qrCode: await otpauthQrCodeDataUrl(otpauthUri) };
  }

  /** Activates TOTP with a first code; answers ten single-use recovery codes, shown once (stored hashed). */
  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Post('v1/auth/mfa/totp/confirm')
  @HttpCode(200)
  @ApiOkResponse({ description: '{recoveryCodes: string[10]}' })
  async confirm(@Body() body: CodeRequest, @Req() req: BastionRequest) {
    const principal = req.principal!;
    await this.assertNotLocked(principal.id);
    const codes = generateRecoveryCodes();
    const ok = await this.db.as(principal, null, async (tx) => {
      const repo = new MfaRepository(tx);
      const credential = await repo.myCredential();
      if (!credential || credential.status !== 'pending') return false;
      const secret = this.box.open(principal.id, credential.secret_token);
      if (!secret) return false;
      const decision = acceptTotp(body.code, secret, new Date(), credential.last_used_step === null ? null : Number(credential.last_used_step));
      if (!decision.ok) return false;
      return repo.confirm(decision.step, codes.map((c) => this.recoveryHash(c)), this.event(req, 'TotpEnrolled', { userId: principal.id, method: 'totp' }));
    });
    if (!ok) {
      await this.failed(req, principal.id);
      throw invalidCode();
    }
    await this.limiter.succeed(principal.id);
    return { recoveryCodes: codes };
  }

  /** Completes a sign-in that answered `{challenge}`: a TOTP code or a recovery code. amr becomes ["pwd","otp"]. */
  @Public()
  @UseGuards(BrowserCredentialsGuard)
  @Post('v1/auth/mfa/verify')
  @HttpCode(200)
  @ApiOkResponse({ type: AccessTokenResponse })
  async verify(@Body() body: VerifyMfaRequest, @Req() req: BastionRequest, @Res({ passthrough: true }) res: Response): Promise<AccessTokenResponse> {
    const challenge = await this.tokens.verifyChallenge(body.challenge);
    if (!challenge) throw unauthenticated();
    const userId = challenge.userId;
    await this.assertNotLocked(userId);
    if (!body.code === !body.recoveryCode) {
      throw new ProblemError({ type: problemType('validation'), title: 'send exactly one of code or recoveryCode', status: 400 });
    }
    await this.personal.prepare(req, userId); // seals the request's IP and user agent into the events below
    const started = await this.db.anonymous(async (tx) => {
      const repo = new MfaRepository(tx);
      if (body.recoveryCode) {
        if (normalizeRecoveryCode(body.recoveryCode) === null || !(await repo.useRecoveryCode(userId, this.recoveryHash(body.recoveryCode)))) return null;
        await repo.record(userId, this.event(req, 'RecoveryCodeUsed', { userId }, userId));
      } else {
        const credential = await repo.credentialForChallenge(userId);
        const secret = credential ? this.box.open(userId, credential.secret_token) : null;
        if (!credential || !secret) return null;
        const decision = acceptTotp(body.code!, secret, new Date(), credential.last_used_step === null ? null : Number(credential.last_used_step));
        // The step is used up atomically: of two simultaneous submissions of one code, only one gets here.
        if (!decision.ok || !(await repo.consumeStep(userId, decision.step))) return null;
      }
      return this.sessions.start(tx, req, { type: 'human', id: userId, orgId: null }, 'password', [...new Set([...challenge.amr, 'otp'])]);
    });
    if (!started) {
      await this.failed(req, userId);
      throw invalidCode();
    }
    await this.limiter.succeed(userId);
    setRefreshCookie(res, started.refreshToken!, started.refreshMaxAge);
    return { accessToken: started.accessToken, tokenType: 'Bearer', expiresIn: started.expiresIn };
  }

  /** Renews the session's MFA time (kept on the session row) without a new sign-in. */
  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Post('v1/auth/mfa/step-up')
  @HttpCode(204)
  @ApiNoContentResponse()
  async stepUp(@Body() body: CodeRequest, @Req() req: BastionRequest): Promise<void> {
    const principal = req.principal!;
    await this.assertNotLocked(principal.id);
    const ok = await this.db.as(principal, null, async (tx) => {
      const repo = new MfaRepository(tx);
      const credential = await repo.myCredential();
      if (!credential || credential.status !== 'active') return false;
      const secret = this.box.open(principal.id, credential.secret_token);
      if (!secret) return false;
      const decision = acceptTotp(body.code, secret, new Date(), credential.last_used_step === null ? null : Number(credential.last_used_step));
      return decision.ok && repo.stepUp(decision.step, this.event(req, 'StepUpVerified', { userId: principal.id, sessionId: principal.sessionId }));
    });
    if (!ok) {
      await this.failed(req, principal.id);
      throw invalidCode();
    }
    await this.limiter.succeed(principal.id);
  }

  /** Disabling needs a fresh MFA verification. */
  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Delete('v1/auth/mfa/totp')
  @HttpCode(204)
  @ApiNoContentResponse()
  async disable(@Req() req: BastionRequest): Promise<void> {
    const principal = req.principal!;
    const ok = await this.db.as(principal, null, (tx) => new MfaRepository(tx).disable(this.event(req, 'TotpDisabled', { userId: principal.id })));
    if (!ok) throw new ProblemError({ type: problemType('not-found'), title: 'no TOTP to disable', status: 404 });
  }

  /** The org-wide toggle: org:security and step-up. */
  @HumansOnly()
  @Requires('org:security')
  @ApiBearerAuth()
  @Put('v1/orgs/:orgId/security')
  @HttpCode(204)
  @ApiNoContentResponse()
  async orgSecurity(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Body() body: OrgSecurityRequest, @Req() req: BastionRequest): Promise<void> {
    const event = this.event(req, 'OrgSecuritySettingsChanged', { orgId, mfaRequired: body.mfaRequired }, undefined, orgId);
    await this.db.inOrg(req, orgId, (tx) => new MfaRepository(tx).setOrgSecurity(orgId, body.mfaRequired, event));
  }

  /** An Admin resets a member's MFA (team:manage, step-up, audited); the member's sessions end. */
  @HumansOnly()
  @Requires('team:manage')
  @ApiBearerAuth()
  @Post('v1/orgs/:orgId/members/:userId/mfa/reset')
  @HttpCode(204)
  @ApiNoContentResponse()
  async reset(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Param('userId', new ParseUUIDPipe()) userId: string, @Req() req: BastionRequest): Promise<void> {
    const event = this.event(req, 'MfaReset', { orgId, userId }, undefined, orgId);
    const ok = await this.db.inOrg(req, orgId, (tx) => new MfaRepository(tx).resetMember(orgId, userId, event));
    if (!ok) throw new ProblemError({ type: problemType('not-found'), title: 'no such member', status: 404 });
  }

  private async assertNotLocked(userId: string): Promise<void> {
    const seconds = await this.limiter.lockedFor(userId);
    if (seconds > 0) throw locked(seconds);
  }

  private async failed(req: BastionRequest, userId: string): Promise<void> {
    const lockedFor = await this.limiter.fail(userId);
    await this.db.anonymous(async (tx) => {
      const repo = new MfaRepository(tx);
      await repo.record(userId, this.event(req, 'MfaVerificationFailed', { userId }, userId));
      if (lockedFor) await repo.record(userId, this.event(req, 'MfaLockedOut', { userId, lockedForSeconds: lockedFor }, userId));
    });
  }
}
