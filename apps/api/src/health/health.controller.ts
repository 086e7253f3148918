import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { EVENT_STORE, type EventStore } from '@bastion/infra/event-store/event-store.port';
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { problemType } from '../http/problem';
import { Public } from '../auth/public.decorator';
import { APP_POOL, REDIS } from '../tokens';

const CHECK_TIMEOUT_MS = 2000;

async function check(name: string, probe: () => Promise<unknown>): Promise<[string, 'up' | 'down']> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return [name, 'up'];
  } catch {
    return [name, 'down'];
  } finally {
    clearTimeout(timer);
  }
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(APP_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** The process is up; says nothing about its dependencies. */
  @Public()
  @Get('live')
  @ApiOkResponse({ description: 'The process answers.' })
  live() {
    return { status: 'up' };
  }

  /** Ready to serve: the database, the event store and Redis all answer. */
  @Public()
  @Get('ready')
  @ApiOkResponse({ description: 'Every dependency answers.' })
  @ApiServiceUnavailableResponse({ description: 'A dependency does not answer (problem+json naming it).' })
  async ready() {
    const checks = Object.fromEntries(
      await Promise.all([
        check('database', () => this.pool.query('select 1')),
        check('eventStore', () => this.store.ping()),
        check('redis', () => this.redis.ping()),
      ]),
    );
    const down = Object.entries(checks).filter(([, state]) => state === 'down').map(([name]) => name);
    if (down.length > 0) {
      throw new ServiceUnavailableException({
        type: problemType('not-ready'),
        title: 'not ready',
        status: 503,
        detail: `Not answering: ${down.join(', ')}.`,
        checks,
      });
    }
    return { status: 'ready', checks };
  }
}
