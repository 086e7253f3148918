import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { type PasswordChanged, type PasswordReset, type PasswordResetRequested, toNewEvents } from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import { CONFIG, type Config, publicUrlOf } from '@bastion/infra/config/config';
import type { AccountRequestLimiter } from '@bastion/infra/identity/account-request-limiter';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { IsEmail, IsString, Length, MaxLength } from 'class-validator';
import type { Response } from 'express';
import { HumansOnly, Public } from '../../auth/public.decorator';
import { Requires } from '../../auth/requires.decorator';
import { type BastionRequest, commandContext, requestIdOf } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { PersonalData } from '../personal-data/personal-data';
import { AfterResponse } from '../../http/after-response';
import { ProblemError, problemType } from '../../http/problem';
import { hashEmailToken, newEmailToken } from '../email-tokens';
import { assertAcceptablePassword, MAIL_SENDER, type MailSender, PASSWORD_HASHING, PASSWORD_RULES, type PasswordHashing, type PasswordRules } from '../identity.ports';
import { ACCOUNT_REQUEST_LIMITER } from '../identity.tokens';
import { tooManyRequests } from '../too-many-requests';
import { invalidToken } from '../verify-email/verify-email.http.controller';

const RESET_TOKEN_TTL_MS = 30 * 60 * 1000;

export class RequestPasswordResetRequest {
  @ApiProperty()
  @IsEmail()
  @MaxLength(254)
  email!: string;
}

export class ResetPasswordRequest {
  @ApiProperty()
  @IsString()
  @Length(20, 200)
  token!: string;

  @ApiProperty()
  @IsString()
  @MaxLength(1024)
  password!: string;
}

export class ChangePasswordRequest {
  @ApiProperty()
  @IsString()
  @MaxLength(1024)
  currentPassword!: string;

  @ApiProperty()
  @IsString()
  @MaxLength(1024)
  newPassword!: string;
}

@ApiTags('auth')
@Controller('v1/auth/password')
export class ResetPasswordController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(PASSWORD_HASHING) private readonly passwords: PasswordHashing,
    @Inject(PASSWORD_RULES) private readonly rules: PasswordRules,
    @Inject(MAIL_SENDER) private readonly mail: MailSender,
    @Inject(ACCOUNT_REQUEST_LIMITER) private readonly limiter: AccountRequestLimiter,
    private readonly personal: PersonalData,
    private readonly after: AfterResponse,
  ) {}

  /**
   * Always 202, whether or not the email has an account, and at once: before the answer only the body is validated
   * and the limits counted, the same work for any email; the lookup, token, event and mail come after it
   * ({@link AfterResponse}), so neither the answer nor its timing reveals an account.
   */
  @Public()
  @Post('reset-request')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: 'If the email has an account, a single-use link valid 30 minutes will be sent (at most three an hour).' })
  @ApiTooManyRequestsResponse({ description: 'Too many reset requests from this address; see Retry-After.' })
  async request(@Body() body: RequestPasswordResetRequest, @Req() req: BastionRequest, @Res({ passthrough: true }) res: Response): Promise<void> {
    const gate = await this.limiter.mailRequestFrom(req.ip ?? 'unknown');
    if (!gate.allowed) throw tooManyRequests(res, gate.retryAfterSeconds, 'too many reset requests from this address; try again later');
    const emailNormalized = normalizeEmail(body.email);
    // Per email address the limit is silent: past it, the same 202 and nothing else (no link, no event, no mail).
    // It counts every address, with an account or not, so a 429 would reveal no account; but it would tell anyone
    // that someone (most likely the owner) asked recently, and the owner already holds the links sent so far.
    const emailKey = this.personal.keys.emailLookupOf(emailNormalized).toString('hex');
    if (!(await this.limiter.mailTo('password-reset', emailKey))) return;
    // The token is drawn for every email alike (a few microseconds); the request id and IP (read by the limiter
    // above, while the connection is open) are what the event's metadata needs after the answer.
    const { token, hash } = newEmailToken();
    const about = {
      what: 'password reset request',
      requestId: requestIdOf(req),
      secrets: [body.email, emailNormalized, token],
      serialKey: `password-reset:${emailKey}`,
    };
    this.after.run(res, about, () => this.mailResetLink(req, emailNormalized, token, hash));
  }

  /** After the answer: a link, an event and a mail for an account; nothing at all for an unknown email. */
  private async mailResetLink(req: BastionRequest, emailNormalized: string, token: string, hash: Buffer): Promise<void> {
    // Only a known account gets an event (and so needs its key); an unknown email leaves no trace at all.
    const known = await this.db.anonymous((tx) => new IdentityRepository(tx).signInLookup(emailNormalized));
    if (known) await this.personal.prepare(req, known.user_id);
    const [event] = toNewEvents<PasswordResetRequested>(
      [{ type: 'PasswordResetRequested', data: { userId: '' } }],
      commandContext(req, { actor: { type: 'human', id: '' }, personSubject: known ? known.user_id.toLowerCase() : null }),
    );
    // Another API process may append to the account's stream at the same moment: authz.append_event waits for it
    // (a per-stream lock, migration 0023) and appends after it.
    const user = await this.db.anonymous((tx) =>
      new IdentityRepository(tx).requestPasswordReset(emailNormalized, hash, new Date(Date.now() + RESET_TOKEN_TTL_MS), event!),
    );
    if (!user) return;
    await this.mail.send({
      to: user.email,
      subject: 'Reset your Bastion password',
      text: `Set a new password by opening ${publicUrlOf(this.config)}/reset-password#token=${token}\n\nThe link works once, for 30 minutes, and signs out every session.\nReset token: ${token}\n`,
    });
  }

  /** A signed-in change: the current password again, a new acceptable one; every other session is revoked. */
  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Post('change')
  @HttpCode(200)
  @ApiOkResponse({ description: '{revokedSessions}' })
  async change(@Body() body: ChangePasswordRequest, @Req() req: BastionRequest): Promise<{ revokedSessions: number }> {
    const principal = req.principal!;
    const { hash, email } = await this.db.as(principal, null, async (tx) => ({
      hash: (await tx.query<{ h: string | null }>('select authz.my_password_hash() as h')).rows[0]!.h,
      email: (await tx.query<{ e: string }>('select authz.my_email() as e')).rows[0]!.e,
    }));
    // Outside any transaction: a password hash never holds one open.
    if (!hash || !(await this.passwords.verify(hash, body.currentPassword))) {
      throw new ProblemError({ type: problemType('wrong-password'), title: 'the current password is not right', status: 403 });
    }
    assertAcceptablePassword(this.rules, body.newPassword, { email, displayName: '' }, 'newPassword', (p) => new ProblemError(p));
    const newHash = await this.passwords.hash(body.newPassword);
    const [event] = toNewEvents<PasswordChanged>([{ type: 'PasswordChanged', data: { userId: principal.id, revokedSessions: 0 } }], commandContext(req));
    const revoked = await this.db.as(principal, null, async (tx) =>
      (await tx.query<{ n: number | null }>('select authz.change_password($1, $2, $3) as n', [hash, newHash, event])).rows[0]!.n,
    );
    if (revoked === null) throw new ProblemError({ type: problemType('concurrent-modification'), title: 'changed concurrently; retry', status: 409 });
    return { revokedSessions: revoked };
  }

  /** Sets the new password and revokes every session of the account. */
  @Public()
  @Post('reset')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'The password is changed and every session revoked.' })
  async reset(@Body() body: ResetPasswordRequest, @Req() req: BastionRequest): Promise<void> {
    assertAcceptablePassword(this.rules, body.password, { email: '', displayName: '' }, 'password', (p) => new ProblemError(p));
    const passwordHash = await this.passwords.hash(body.password);
    const tokenHash = hashEmailToken(body.token);
    const owner = await this.personal.prepareTokenOwner(req, tokenHash, 'reset_password');
    const [event] = toNewEvents<PasswordReset>(
      [{ type: 'PasswordReset', data: { userId: '', revokedSessions: 0 } }],
      commandContext(req, { actor: { type: 'human', id: '' }, personSubject: owner }),
    );
    const userId = await this.db.anonymous((tx) => new IdentityRepository(tx).resetPassword(tokenHash, passwordHash, event!));
    if (!userId) throw invalidToken();
  }
}

