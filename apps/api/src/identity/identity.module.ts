import { Module } from '@nestjs/common';
import { checkPassword } from '@bastion/domain/identity/password-policy';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { isCommonPassword, loadCommonPasswords } from '@bastion/infra/crypto/password/common-passwords';
import { PasswordHasher } from '@bastion/infra/crypto/password/password-hasher';
import { AccountRequestLimiter, isLoopbackAddress } from '@bastion/infra/identity/account-request-limiter';
import { SignInLimiter } from '@bastion/infra/identity/sign-in-limiter';
import { MfaLimiter } from '@bastion/infra/mfa/mfa-limiter';
import { loadFernetKeys, TotpSecretBox } from '@bastion/infra/mfa/totp-secret-box';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import { MfaController } from '../mfa/mfa.http.controller';
import { MFA_LIMITER, TOTP_SECRET_BOX } from '../mfa/mfa.tokens';
import { createMailer } from '@bastion/infra/mail/create-mailer';
import { JobQueue } from '@bastion/infra/queue/job-queue';
import { QUEUES } from '@bastion/infra/queue/queues';
import type Redis from 'ioredis';
import { AgentKeysController } from '../agents/agent-keys/agent-keys.http.controller';
import { CreateAgentController } from '../agents/create-agent/create-agent.http.controller';
import { BrowserCredentialsGuard } from '../auth/browser-credentials.guard';
import { AfterResponse } from '../http/after-response';
import { SessionDatabase } from '../auth/session-database';
import { ListAgentsController } from '../agents/list-agents/list-agents.http.controller';
import { CreateOrganizationController } from '../organization/create-organization/create-organization.http.controller';
import { OrganizationsController } from '../organization/read/organizations.http.controller';
import { RolesController } from '../organization/roles/roles.http.controller';
import { TeamController } from '../organization/team/team.http.controller';
import { CanvasController } from '../task/canvas.http.controller';
import { TasksController } from '../task/tasks.http.controller';
import { REDIS } from '../tokens';
import { PersonalDataModule } from './personal-data/personal-data.module';
import { MAIL_SENDER, PASSWORD_HASHING, PASSWORD_RULES, type PasswordRules } from './identity.ports';
import { ACCOUNT_REQUEST_LIMITER, SIGN_IN_LIMITER, THROTTLE_REPORTS } from './identity.tokens';
import { JwksController } from './jwks/jwks.http.controller';
import { RefreshSessionController } from './refresh-session/refresh-session.http.controller';
import { ResetPasswordController } from './reset-password/reset-password.http.controller';
import { SessionIssuer } from './session-issuer';
import { SignInWithPasswordController } from './sign-in-with-password/sign-in-with-password.http.controller';
import { SignUpController } from './sign-up/sign-up.http.controller';
import { VerifyEmailController } from './verify-email/verify-email.http.controller';

const passwordRules: PasswordRules = {
  problems: (password, identity) => checkPassword(password, { ...identity, isCommon: isCommonPassword }),
};

@Module({
  imports: [PersonalDataModule],
  controllers: [
    SignUpController,
    VerifyEmailController,
    ResetPasswordController,
    SignInWithPasswordController,
    RefreshSessionController,
    JwksController,
    CreateOrganizationController,
    CreateAgentController,
    AgentKeysController,
    ListAgentsController,
    RolesController,
    OrganizationsController,
    TeamController,
    TasksController,
    CanvasController,
    MfaController,
  ],
  providers: [
    SessionDatabase,
    SessionIssuer,
    AfterResponse,
    BrowserCredentialsGuard,
    { provide: PASSWORD_HASHING, useValue: new PasswordHasher() },
    {
      provide: PASSWORD_RULES,
      useFactory: () => {
        loadCommonPasswords(); // once, at start-up, not on the first sign-up
        return passwordRules;
      },
    },
    {
      provide: TOTP_SECRET_BOX,
      inject: [CONFIG],
      useFactory: (config: Config) =>
        new TotpSecretBox(
          loadFernetKeys(config, fromProjectRoot(config.FERNET_KEYS_FILE)),
        ),
    },
    { provide: MFA_LIMITER, inject: [REDIS, CONFIG], useFactory: (redis: Redis, config: Config) => new MfaLimiter(redis, config.REDIS_PREFIX) },
    { provide: MAIL_SENDER, inject: [CONFIG], useFactory: (config: Config) => createMailer(config) },
    { provide: SIGN_IN_LIMITER, inject: [REDIS, CONFIG], useFactory: (redis: Redis, config: Config) => new SignInLimiter(redis, config.REDIS_PREFIX) },
    {
      provide: ACCOUNT_REQUEST_LIMITER,
      inject: [REDIS, CONFIG],
      // The suites sign up hundreds of users from 127.0.0.1, so in NODE_ENV=test alone loopback is not counted per
      // IP; the per-address mail limits still apply, and the limit tests send from other addresses (TRUST_PROXY).
      useFactory: (redis: Redis, config: Config) =>
        new AccountRequestLimiter(redis, config.REDIS_PREFIX, config.NODE_ENV === 'test' ? { uncountedIp: isLoopbackAddress } : {}),
    },
    {
      provide: THROTTLE_REPORTS,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: Config) => new JobQueue(QUEUES.signInThrottleReports, redis, config.REDIS_PREFIX),
    },
  ],
})
export class IdentityModule {}
