import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import { from, type Observable, switchMap } from 'rxjs';
import type { BastionRequest } from '../../auth/request-context';
import { LOGGER } from '../../tokens';
import { PersonalData } from './personal-data';

/**
 * Before every authenticated route, the principal's person key (from memory when it is there), so any event the
 * route appends carries the request's IP address and user agent sealed for them. Public routes load the key of
 * whoever they learn about themselves. A key that cannot be loaded (KMS down) costs the events their IP address
 * and user agent, never the request.
 */
@Injectable()
export class PersonalDataInterceptor implements NestInterceptor {
  constructor(
    private readonly personal: PersonalData,
    @Inject(LOGGER) private readonly logger: JsonLogger,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<BastionRequest>();
    const holder = this.personal.attach(req);
    const principal = req.principal;
    if (!principal) return next.handle();
    const cached = this.personal.keys.peek(principal.id.toLowerCase());
    if (cached !== undefined) {
      holder.add(cached);
      return next.handle();
    }
    return from(
      this.personal.prepare(req, principal.id).catch((error: unknown) => {
        this.logger.event('warn', 'personal data: could not load the person key; IP and user agent left out of events', { error });
      }),
    ).pipe(switchMap(() => next.handle()));
  }
}
