import { Body, Controller, Delete, Get, HttpCode, Inject, Param, ParseUUIDPipe, Patch, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import {
  type InvitationAccepted,
  type InvitationRevoked,
  type MemberAdded,
  type MemberInvited,
  type MemberLeft,
  type MemberRemoved,
  type MemberRoleChanged,
  ORG_ROLES,
  type OrgRole,
  toNewEvents,
} from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import { CONFIG, type Config, publicUrlOf } from '@bastion/infra/config/config';
import { personalSubjectsOf, revealPersonal, sealPersonal } from '@bastion/infra/crypto/person-keys';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { TeamRepository } from '@bastion/infra/organization/team.repository';
import { IsEmail, IsIn, IsString, Length, MaxLength } from 'class-validator';
import type { PoolClient } from 'pg';
import { HumansOnly } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { Requires } from '../../auth/requires.decorator';
import { SessionDatabase } from '../../auth/session-database';
import { ProblemError, problemType } from '../../http/problem';
import { hashEmailToken, newEmailToken } from '../../identity/email-tokens';
import { MAIL_SENDER, type MailSender } from '../../identity/identity.ports';
import { PersonalData } from '../../identity/personal-data/personal-data';

const INVITATION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export class InviteRequest {
  @ApiProperty()
  @IsEmail()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ enum: ORG_ROLES, description: 'provider_admin is granted only by the platform operator.' })
  @IsIn(ORG_ROLES as unknown as string[], { message: 'must be viewer, member or admin' })
  role!: OrgRole;
}

export class ChangeRoleRequest {
  @ApiProperty({ enum: ORG_ROLES })
  @IsIn(ORG_ROLES as unknown as string[], { message: 'must be viewer, member or admin' })
  role!: OrgRole;
}

export class AcceptParams {
  @IsString()
  @Length(20, 200)
  token!: string;
}

function notFound(what: string): ProblemError {
  return new ProblemError({ type: problemType('not-found'), title: `no such ${what}`, status: 404 });
}

@ApiTags('team')
@ApiBearerAuth()
@Controller()
export class TeamController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(MAIL_SENDER) private readonly mail: MailSender,
    private readonly personal: PersonalData,
  ) {}

  /**
   * The email carries the link; the inviting admin also gets the copyable link and token. Inviting an Admin also needs a
   * fresh MFA verification (step-up, `step-up-required` 403), checked by `authz.invite_member` (migration 0022).
   */
  @HumansOnly()
  @Requires('team:invite')
  @Post('v1/orgs/:orgId/invitations')
  @HttpCode(201)
  @ApiCreatedResponse({ description: '{id, token, link}' })
  async invite(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Body() body: InviteRequest, @Req() req: BastionRequest) {
    const invitationId = uuidv7();
    const { token, hash } = newEmailToken();
    const expiresAt = new Date(Date.now() + INVITATION_TTL_MS);
    const email = body.email.trim();
    // The invitee may have no account: their email is sealed for the email's own person (crypto-shredding).
    const invitee = await this.personal.prepareEmail(req, normalizeEmail(email));
    const sealedEmail = sealPersonal(invitee, email, { record: invitationId, field: 'invitation.email' });
    const [event] = toNewEvents<MemberInvited>(
      [{ type: 'MemberInvited', data: { orgId, invitationId, email: sealedEmail, role: body.role, expiresAt: expiresAt.toISOString() } }],
      commandContext(req, { orgId }),
    );
    await this.db.inOrg(req, orgId, (tx) =>
      new TeamRepository(tx).invite({ orgId, invitationId, email, emailNormalized: normalizeEmail(email), role: body.role, tokenHash: hash, expiresAt, event: event! }),
    );
    const link = `${publicUrlOf(this.config)}/invitations#token=${token}`;
    await this.mail.send({
      to: email,
      subject: 'You are invited to an organisation on Bastion',
      text: `You have been invited as ${body.role}. Accept by opening ${link}\n\nThe invitation is valid for 7 days.\nInvitation token: ${token}\n`,
    });
    return { id: invitationId, token, link };
  }

  @HumansOnly()
  @Requires('team:invite')
  @Delete('v1/orgs/:orgId/invitations/:invitationId')
  @HttpCode(204)
  @ApiNoContentResponse()
  async revokeInvitation(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('invitationId', new ParseUUIDPipe()) invitationId: string,
    @Req() req: BastionRequest,
  ): Promise<void> {
    const [event] = toNewEvents<InvitationRevoked>([{ type: 'InvitationRevoked', data: { orgId, invitationId } }], commandContext(req, { orgId }));
    const ok = await this.db.inOrg(req, orgId, (tx) => new TeamRepository(tx).revokeInvitation(orgId, invitationId, event!));
    if (!ok) throw notFound('pending invitation');
  }

  /** By the signed-in invitee, whose verified email must be the invitation's. */
  @HumansOnly()
  @Requires('platform')
  @Post('v1/invitations/:token/accept')
  @HttpCode(200)
  @ApiOkResponse({ description: '{orgId}' })
  async accept(@Param() params: AcceptParams, @Req() req: BastionRequest): Promise<{ orgId: string }> {
    const principal = req.principal!;
    const events = toNewEvents<InvitationAccepted | MemberAdded>(
      [
        { type: 'InvitationAccepted', data: { orgId: '', invitationId: '', userId: principal.id } },
        { type: 'MemberAdded', data: { orgId: '', userId: principal.id, role: 'viewer' } },
      ],
      commandContext(req),
    );
    const orgId = await this.db.as(principal, null, (tx) => new TeamRepository(tx).acceptInvitation(hashEmailToken(params.token), events));
    if (!orgId) throw new ProblemError({ type: problemType('invalid-token'), title: 'the invitation is invalid, used, revoked or expired', status: 400 });
    return { orgId };
  }

  @Requires('team:view')
  @Get('v1/orgs/:orgId/members')
  @ApiOkResponse({ description: '{members: [{userId, role, displayName, email, joinedAt}]}' })
  async members(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const rows = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query('select user_id, role, display_name, email, joined_at from org_members where org_id = $1 order by joined_at', [orgId])).rows,
    );
    // Names and emails are projected as sealed in the events; an erased person's show as null.
    const keys = await this.personal.keys.keysOf(this.personal.transact, personalSubjectsOf(rows.flatMap((r) => [r.email, r.display_name])));
    return {
      members: rows.map((r) => ({
        userId: r.user_id,
        role: r.role,
        displayName: revealPersonal(keys, r.display_name, { record: r.user_id, field: 'user.displayName' }).value,
        email: revealPersonal(keys, r.email, { record: r.user_id, field: 'user.email' }).value,
        joinedAt: r.joined_at,
      })),
    };
  }

  /** team:manage and a fresh MFA verification (step-up); the last Admin cannot be demoted. Effective at once. */
  @HumansOnly()
  @Requires('team:manage')
  @Patch('v1/orgs/:orgId/members/:userId')
  @HttpCode(204)
  @ApiNoContentResponse()
  async changeRole(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('userId', new ParseUUIDPipe()) userId: string,
    @Body() body: ChangeRoleRequest,
    @Req() req: BastionRequest,
  ): Promise<void> {
    const [event] = toNewEvents<MemberRoleChanged>([{ type: 'MemberRoleChanged', data: { orgId, userId, from: null, to: body.role } }], commandContext(req, { orgId }));
    const ok = await this.db.inOrg(req, orgId, (tx) => new TeamRepository(tx).changeRole(orgId, userId, body.role, event!));
    if (!ok) throw notFound('member');
  }

  /**
   * Removes a member (team:manage and step-up, checked by `authz.remove_member`), or leaves when the id is one's own
   * (no step-up); never the last Admin.
   */
  @HumansOnly()
  @Requires('platform')
  @Delete('v1/orgs/:orgId/members/:userId')
  @HttpCode(204)
  @ApiNoContentResponse()
  async remove(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('userId', new ParseUUIDPipe()) userId: string,
    @Req() req: BastionRequest,
  ): Promise<void> {
    const self = userId === req.principal!.id;
    const [event] = self
      ? toNewEvents<MemberLeft>([{ type: 'MemberLeft', data: { orgId, userId } }], commandContext(req, { orgId }))
      : toNewEvents<MemberRemoved>([{ type: 'MemberRemoved', data: { orgId, userId } }], commandContext(req, { orgId }));
    // Leaving asks only what the route declares; removing someone else asks team:manage as well.
    const remove = (tx: PoolClient) => new TeamRepository(tx).remove(orgId, userId, event!);
    const ok = await (self ? this.db.inOrg(req, orgId, remove) : this.db.inOrgAlsoRequiring(req, orgId, 'team:manage', remove));
    if (!ok) throw notFound('member');
  }
}
