import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type { BastionRequest } from '../../auth/request-context';
import { LOGGER } from '../../tokens';
import { PersonalData } from './personal-data';

/**
 * Before every authenticated route, the principal's person key (from memory when it is there), so any event the
 * route appends carries the request's IP address and user agent sealed for them. Public routes load the key of
 * whoever they learn about themselves. A key that cannot be loaded (KMS down) costs the events their IP address
 * and user agent, never the request.
 *
 * A global guard that runs right after {@link AuthenticationGuard} (AppModule registers both, in that order) and
 * always lets the request through. It is a guard and not an interceptor on purpose: with any global interceptor,
 * Nest wraps every route in RxJS observables and two `AsyncResource.bind` calls, which `npm run bench:auth` measured
 * as about a tenth of a refresh's CPU in the HTTP pipeline.
 */
@Injectable()
export class PersonalDataGuard implements CanActivate {
  constructor(
    private readonly personal: PersonalData,
    @Inject(LOGGER) private readonly logger: JsonLogger,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<BastionRequest>();
    const holder = this.personal.attach(req);
    const principal = req.principal;
    if (!principal) return true;
    const cached = this.personal.keys.peek(principal.id.toLowerCase());
    if (cached !== undefined) {
      holder.add(cached);
      return true;
    }
    return this.personal.prepare(req, principal.id).then(
      () => true,
      (error: unknown) => {
        this.logger.event('warn', 'personal data: could not load the person key; IP and user agent left out of events', { error });
        return true;
      },
    );
  }
}
