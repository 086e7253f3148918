import { Body, Controller, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiTags } from '@nestjs/swagger';
import { toNewEvents, type UserSignedUp } from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import { CONFIG, type Config, publicUrlOf } from '@bastion/infra/config/config';
import { sealPersonal } from '@bastion/infra/crypto/person-keys';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { Public } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { ProblemError, problemType } from '../../http/problem';
import { newEmailToken } from '../email-tokens';
import { PersonalData } from '../personal-data/personal-data';
import { assertAcceptablePassword, MAIL_SENDER, type MailSender, PASSWORD_HASHING, PASSWORD_RULES, type PasswordHashing, type PasswordRules } from '../identity.ports';
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
    private readonly personal: PersonalData,
  ) {}

  @Public()
  @Post('signup')
  @HttpCode(201)
  @ApiCreatedResponse({ description: 'The account exists; a verification link was emailed.' })
  @ApiConflictResponse({ description: 'An account already uses this email.' })
  async signUp(@Body() body: SignUpRequest, @Req() req: BastionRequest): Promise<{ id: string }> {
    assertAcceptablePassword(this.rules, body.password, { email: body.email, displayName: body.displayName }, 'password', (p) => new ProblemError(p));
    // Hash before the transaction opens: never hold a transaction across a password hash (DESIGN §3).
    const passwordHash = await this.passwords.hash(body.password);
    const userId = uuidv7();
    const email = body.email.trim();
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
        emailNormalized: normalizeEmail(email),
        displayName,
        passwordHash,
        verifyTokenHash: hash,
        verifyTokenExpiresAt: new Date(Date.now() + VERIFY_TOKEN_TTL_MS),
        event: event!,
      }),
    );
    if (!created) {
      throw new ProblemError({ type: problemType('email-taken'), title: 'an account already uses this email', status: 409 });
    }
    await this.mail.send({
      to: email,
      subject: 'Verify your email for Bastion',
      text: `Confirm this address by opening ${publicUrlOf(this.config)}/verify-email#token=${token}\n\nThe link works once, for 24 hours.\nVerification token: ${token}\n`,
    });
    return { id: userId };
  }
}
