import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { BastionRequest } from '../../auth/request-context';
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
  constructor(private readonly personal: PersonalData) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<BastionRequest>();
    this.personal.attach(req);
    const principal = req.principal;
    if (!principal || this.personal.pin(req, principal.id)) return true;
    return this.personal.prepareOrWarn(req, principal.id).then(() => true);
  }
}
