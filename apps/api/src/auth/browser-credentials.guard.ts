import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { allowedOriginsOf, CONFIG, type Config } from '@bastion/infra/config/config';
import { ProblemError, problemType } from '../http/problem';
import type { BastionRequest } from './request-context';

/**
 * CSRF defence for the routes that read or set the refresh cookie (sign-in, refresh, logout). SameSite is per
 * site, not per origin, so these also require a JSON body type (no simple cross-site form can send one) and an
 * `Origin` on the allow-list.
 */
@Injectable()
export class BrowserCredentialsGuard implements CanActivate {
  private readonly allowed: Set<string>;

  constructor(@Inject(CONFIG) config: Config) {
    this.allowed = new Set(allowedOriginsOf(config));
  }

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<BastionRequest>();
    const origin = req.header('origin');
    if (!origin || !this.allowed.has(origin)) {
      throw new ProblemError({ type: problemType('origin-not-allowed'), title: 'origin not allowed', status: 403 });
    }
    if (!req.is('application/json')) {
      throw new ProblemError({ type: problemType('unsupported-media-type'), title: 'a JSON body is required', status: 415 });
    }
    return true;
  }
}
