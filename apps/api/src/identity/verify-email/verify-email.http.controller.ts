import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiNoContentResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { type EmailVerified, toNewEvents } from '@bastion/domain';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { IsString, Length } from 'class-validator';
import { Public } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { ProblemError, problemType } from '../../http/problem';
import { hashEmailToken } from '../email-tokens';
import { PersonalData } from '../personal-data/personal-data';

export class VerifyEmailRequest {
  @ApiProperty()
  @IsString()
  @Length(20, 200)
  token!: string;
}

export function invalidToken(): ProblemError {
  return new ProblemError({ type: problemType('invalid-token'), title: 'the link is invalid, used or expired', status: 400 });
}

@ApiTags('auth')
@Controller('v1/auth/email')
export class VerifyEmailController {
  constructor(
    private readonly db: SessionDatabase,
    private readonly personal: PersonalData,
  ) {}

  @Public()
  @Post('verify')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'The email is verified.' })
  async verify(@Body() body: VerifyEmailRequest, @Req() req: BastionRequest): Promise<void> {
    // The user (and so the actor) is whoever the token belongs to; the definer function fills both in.
    const tokenHash = hashEmailToken(body.token);
    const owner = await this.personal.prepareTokenOwner(req, tokenHash, 'verify_email');
    const [event] = toNewEvents<EmailVerified>(
      [{ type: 'EmailVerified', data: { userId: '' } }],
      commandContext(req, { actor: { type: 'human', id: '' }, personSubject: owner }),
    );
    const userId = await this.db.anonymous((tx) => new IdentityRepository(tx).verifyEmail(tokenHash, event!));
    if (!userId) throw invalidToken();
  }
}
