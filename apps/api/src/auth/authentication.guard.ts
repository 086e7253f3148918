import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import { ProblemError, problemType } from '../http/problem';
import { LOGGER } from '../tokens';
import { ACCESS_TOKENS, type AccessTokens } from './access-tokens';
import { HUMANS_ONLY, IS_PUBLIC } from './public.decorator';
import type { BastionRequest } from './request-context';
import { REQUIRES, type Requirement } from './requires.decorator';

export function unauthenticated(): ProblemError {
  return new ProblemError({ type: problemType('unauthenticated'), title: 'authentication required', status: 401 });
}

/**
 * The global guard: deny by default. A route opens only with `@Public()` or a valid RS256 access token; agent
 * tokens are refused on `@HumansOnly()` routes. The caller learns nothing about why a token failed; the log does.
 * It records the route's `@Requires(…)` on the request, for `SessionDatabase.inOrg` to enforce.
 */
@Injectable()
export class AuthenticationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
    @Inject(LOGGER) private readonly logger: JsonLogger,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const req = context.switchToHttp().getRequest<BastionRequest>();
    const header = req.header('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(header);
    if (!match) throw unauthenticated();
    try {
      req.principal = await this.tokens.verify(match[1]!);
    } catch (error) {
      this.logger.event('info', 'access token refused', { code: (error as { code?: string }).code, path: req.path });
      throw unauthenticated();
    }
    if (this.reflector.getAllAndOverride<boolean>(HUMANS_ONLY, targets) && req.principal.type !== 'human') {
      this.logger.event('warn', 'agent token on a human route', { path: req.path, agent: req.principal.id });
      throw unauthenticated();
    }
    // What the route declares is what `SessionDatabase.inOrg` enforces: recorded once, and not writable after.
    const requirement = this.reflector.getAllAndOverride<Requirement | undefined>(REQUIRES, targets);
    if (requirement) Object.defineProperty(req, 'requirement', { value: requirement, enumerable: true, writable: false, configurable: false });
    return true;
  }
}
