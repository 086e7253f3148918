import { Controller, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiTags } from '@nestjs/swagger';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import type Redis from 'ioredis';
import type { BastionRequest } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { REDIS } from '../tokens';
import { issueTicket } from './ws-tickets';

@ApiTags('live')
@ApiBearerAuth()
@Controller('v1/ws/tickets')
export class WsTicketsController {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: Config,
    private readonly db: SessionDatabase,
  ) {}

  /**
   * A single-use ticket, valid 30 s, to open `/v1/ws?ticket=…` (the Origin is checked there too). Only for a live
   * session: `authz.begin` refuses a revoked one here, as it does on every other route, though its access token has
   * not expired (the gateway checks again when the socket opens and while it is open).
   */
  @Requires('platform', 'task:work_assigned')
  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ description: '{ticket, expiresIn}' })
  async issue(@Req() req: BastionRequest) {
    await this.db.as(req.principal!, null, async () => undefined);
    return issueTicket(this.redis, this.config.REDIS_PREFIX, req.principal!);
  }
}
