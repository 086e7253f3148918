import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { toNewEvents, type UserSignedUp } from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import { CONFIG, type Config, publicUrlOf } from '@bastion/infra/config/config';
import { sealPersonal } from '@bastion/infra/crypto/person-keys';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import type { AccountRequestLimiter } from '@bastion/infra/identity/account-request-limiter';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import type { Response } from 'express';
import { Public } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { ProblemError } from '../../http/problem';
import { newEmailToken } from '../email-tokens';
import { PersonalData } from '../personal-data/personal-data';
import { assertAcceptablePassword, MAIL_SENDER, type MailSender, PASSWORD_HASHING, PASSWORD_RULES, type PasswordHashing, type PasswordRules } from '../identity.ports';
import { ACCOUNT_REQUEST_LIMITER } from '../identity.tokens';
import { tooManyRequests } from '../too-many-requests';
import { SignUpRequest } from './sign-up.request.dto';

const VERIFY_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

@ApiTags('auth')
@Controller('v1/auth')
export class SignUpController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(PASSWORD_HASHING) private readonly passwords: PasswordHashing,
    @Inject(PASSWORD_RULES) private readonly rules: PasswordRules,
    @Inject(MAIL_SENDER) private readonly mail: MailSender,
    @Inject(ACCOUNT_REQUEST_LIMITER) private readonly limiter: AccountRequestLimiter,
    private readonly personal: PersonalData,
  ) {}

  /**
   * The answer never tells whether the email already has an account (sign-in and password reset keep the same
   * promise): a taken email gets the same 201 and an id of the same shape — the fresh UUIDv7 drawn for the account
   * that could not be made, which therefore names no account — after the same password hash and the same
   * transaction, and its owner is mailed instead, where a new account gets its verification link. Nothing is
   * appended for the refused account (DESIGN §10: a refused command appends nothing; no event type fits it).
   */
  @Public()
  @Post('signup')
  @HttpCode(201)
  @ApiCreatedResponse({
    description: 'A verification link was emailed. The same answer when the email already has an account: its owner is mailed instead, and the id names no account.',
  })
  @ApiTooManyRequestsResponse({ description: 'Too many sign-ups from this address; see Retry-After.' })
  async signUp(@Body() body: SignUpRequest, @Req() req: BastionRequest, @Res({ passthrough: true }) res: Response): Promise<{ id: string }> {
    assertAcceptablePassword(this.rules, body.password, { email: body.email, displayName: body.displayName }, 'password', (p) => new ProblemError(p));
    // Counted before the hash (the expensive part), for taken and new emails alike.
    const gate = await this.limiter.signUpFrom(req.ip ?? 'unknown');
    if (!gate.allowed) throw tooManyRequests(res, gate.retryAfterSeconds, 'too many sign-ups from this address; try again later');
    // Hash before the transaction opens: never hold a transaction across a password hash (DESIGN §3).
    const passwordHash = await this.passwords.hash(body.password);
    const userId = uuidv7();
    const email = body.email.trim();
    const emailNormalized = normalizeEmail(email);
    const displayName = body.displayName.trim();
    const { token, hash } = newEmailToken();
    // The email and name enter the event sealed for the new user (their key, created here, before the transaction).
    const person = await this.personal.prepare(req, userId);
    const sealed = {
      email: sealPersonal(person, email, { record: userId, field: 'user.email' }),
      displayName: sealPersonal(person, displayName, { record: userId, field: 'user.displayName' }),
    };
    const [event] = toNewEvents<UserSignedUp>(
      [{ type: 'UserSignedUp', data: { userId, ...sealed } }],
      commandContext(req, { actor: { type: 'human', id: userId }, authMethod: 'password' }),
    );
    const created = await this.db.anonymous((tx) =>
      new IdentityRepository(tx).signUp({
        userId,
        email,
        emailNormalized,
        displayName,
        passwordHash,
        verifyTokenHash: hash,
        verifyTokenExpiresAt: new Date(Date.now() + VERIFY_TOKEN_TTL_MS),
        event: event!,
      }),
    );
    // Counted either way, so both answers do the same work. A new account always gets its link (its only way to be
    // verified); an owner is told of sign-ups with their address at most a few times an hour, however many there are.
    const mayMail = await this.limiter.mailTo('sign-up', this.personal.keys.emailLookupOf(emailNormalized).toString('hex'));
    if (created) {
      await this.mail.send({
        to: email,
        subject: 'Verify your email for Bastion',
        text: `Confirm this address by opening ${publicUrlOf(this.config)}/verify-email#token=${token}\n\nThe link works once, for 24 hours.\nVerification token: ${token}\n`,
      });
    } else if (mayMail) {
      // To the address as given, equal to the account's after normalizeEmail (case, NFC, spaces): the same mailbox
      // wherever local parts ignore case, as practically everywhere. The stored spelling is not readable here
      // without a new definer function.
      await this.mail.send({
        to: email,
        subject: 'Someone tried to sign up for Bastion with your email',
        text:
          `Someone tried to create a Bastion account with this address, which already has one. No second account was made.\n\n` +
          `If it was you, sign in at ${publicUrlOf(this.config)}, or reset your password there if you have forgotten it.\n` +
          `If it was not you, you can ignore this message: nothing about your account has changed.\n`,
      });
    }
    return { id: userId };
  }
}
