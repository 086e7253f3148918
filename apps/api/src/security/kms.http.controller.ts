import { Body, Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { toNewEvents } from '@bastion/domain';
import { KeyRefInvalidError, parseGcpWrappingKeyRef } from '@bastion/infra/crypto/kms';
import { KmsRouter, type OrgKeyService, type OrgKeyStatus, type StampOrgKeyEvent, type Transact } from '@bastion/infra/crypto/org-keys';
import { IsString, MaxLength } from 'class-validator';
import { HumansOnly } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';
import { invalidKeyRef, withKeyProblems } from './key-problems';
import { KMS_ROUTER, ORG_KEY_SERVICE } from './security.tokens';

export class SetKmsKeyRequest {
  @ApiProperty({
    example: 'projects/acme-prod/locations/europe-west1/keyRings/bastion/cryptoKeys/org-data',
    description: 'A Google Cloud KMS crypto key (not a version): wrapping always uses its primary version.',
  })
  @IsString()
  @MaxLength(512)
  keyRef!: string;
}

export class KmsStatusResponse {
  @ApiProperty({ nullable: true, type: String }) keyRef!: string | null;
  @ApiProperty({ nullable: true, enum: ['local', 'gcp'] }) provider!: 'local' | 'gcp' | null;
  @ApiProperty({ nullable: true, type: Number }) version!: number | null;
  @ApiProperty({
    enum: ['enabled', 'disabled', 'destroyed', 'not-found', 'permission-denied', 'unreachable', 'not-configured', 'none'],
    description:
      "What the KMS says of the key the org's DEK is wrapped under ('none': the org has no DEK yet). Reading a Google " +
      "key's state needs cloudkms.cryptoKeys.get (roles/cloudkms.viewer) besides Encrypter/Decrypter; without it the " +
      "state reads 'permission-denied' although the key may still work.",
  })
  state!: string;
  @ApiProperty({ description: "Bastion's emergency stop: while true, no data of the org can be decrypted." }) revoked!: boolean;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) createdAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) rewrappedAt!: string | null;
}


function view(status: OrgKeyStatus): KmsStatusResponse {
  return {
    keyRef: status.keyRef,
    provider: status.provider,
    version: status.version,
    state: status.state,
    revoked: status.revoked,
    revokedAt: status.revokedAt?.toISOString() ?? null,
    createdAt: status.createdAt?.toISOString() ?? null,
    rewrappedAt: status.rewrappedAt?.toISOString() ?? null,
  };
}

/**
 * The org's encryption key (DESIGN §9, BYOK): where its data-encryption key is wrapped, moving it under the org's
 * own Google Cloud KMS key (which destroys the platform-wrapped copy), and the emergency stop. Every change needs
 * org:security and a fresh MFA verification (step-up, `urn:bastion:problem:step-up-required`) and is an event in
 * the org's stream; no key material ever leaves the server or enters an event.
 *
 * Problems: `validation` 400 (naming `keyRef`), `forbidden` 403, `step-up-required` 403, `not-found` 404 (no DEK
 * to revoke or restore), `key-revoked` 409 (the current key is withdrawn: restore it before moving it),
 * `kms-not-configured` 409, `concurrent-modification` 409, `kms-key-unusable` 422 (naming `keyRef`: the KMS refused
 * to wrap, or to unwrap what it wrapped — nothing changed), `kms-integrity` 502, `kms-unavailable` 503.
 */
@ApiTags('security')
@ApiBearerAuth()
@Controller()
export class KmsController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(ORG_KEY_SERVICE) private readonly keys: OrgKeyService,
    @Inject(KMS_ROUTER) private readonly kms: KmsRouter,
  ) {}

  /** Where the org's DEK is wrapped, what the KMS says of that key, and whether the emergency stop is pulled. */
  @HumansOnly()
  @Requires('org:security')
  @Get('v1/orgs/:orgId/security/kms')
  @ApiOkResponse({ type: KmsStatusResponse })
  async status(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest): Promise<KmsStatusResponse> {
    return view(await withKeyProblems(() => this.keys.status(this.transact(req, orgId), orgId)));
  }

  /**
   * Moves the org's DEK under its own Google Cloud KMS key (or to another one). The DEK is unwrapped, wrapped under
   * `keyRef`, proven to unwrap again, and only then replaces the previous wrapping — so the platform-wrapped copy is
   * gone and only the org's key opens its data. Data is not re-encrypted (the DEK is the same).
   */
  @HumansOnly()
  @Requires('org:security')
  @Put('v1/orgs/:orgId/security/kms')
  @HttpCode(200)
  @ApiOkResponse({ type: KmsStatusResponse })
  async setKey(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Body() body: SetKmsKeyRequest,
    @Req() req: BastionRequest,
  ): Promise<KmsStatusResponse> {
    const keyRef = body.keyRef.trim();
    try {
      parseGcpWrappingKeyRef(keyRef);
    } catch (error) {
      if (error instanceof KeyRefInvalidError) throw invalidKeyRef(error);
      throw error;
    }
    if (!this.kms.has('gcp')) {
      throw new ProblemError({
        type: problemType('kms-not-configured'),
        title: 'this deployment has no Google Cloud KMS configured',
        status: 409,
      });
    }
    const transact = this.transact(req, orgId);
    return view(
      await withKeyProblems(async () => {
        await this.keys.rewrapTo(transact, orgId, keyRef, this.stamp(req, orgId));
        return this.keys.status(transact, orgId);
      }),
    );
  }

  /** The emergency stop: from now on no data of the org can be decrypted, on every process at once. Idempotent. */
  @HumansOnly()
  @Requires('org:security')
  @Post('v1/orgs/:orgId/security/kms/revoke')
  @HttpCode(204)
  @ApiNoContentResponse()
  async revoke(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest): Promise<void> {
    await withKeyProblems(() => this.keys.revoke(this.transact(req, orgId), orgId, this.stamp(req, orgId)));
  }

  /** Lifts the emergency stop. Idempotent. */
  @HumansOnly()
  @Requires('org:security')
  @Post('v1/orgs/:orgId/security/kms/restore')
  @HttpCode(204)
  @ApiNoContentResponse()
  async restore(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest): Promise<void> {
    await withKeyProblems(() => this.keys.restore(this.transact(req, orgId), orgId, this.stamp(req, orgId)));
  }

  /** Short transactions as the caller, scoped to the org, with the route's requirement checked first in each. */
  private transact(req: BastionRequest, orgId: string): Transact {
    return (work) => this.db.inOrg(req, orgId, work);
  }

  private stamp(req: BastionRequest, orgId: string): StampOrgKeyEvent {
    return (event) => toNewEvents([event], commandContext(req, { orgId }))[0]!;
  }
}
