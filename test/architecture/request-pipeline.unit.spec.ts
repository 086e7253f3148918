/**
 * The API's request pipeline: deny by default comes first, then the personal-data guard that loads the principal's
 * person key (it needs the principal the first one set), and no interceptor anywhere. Any interceptor makes Nest
 * wrap every route in RxJS observables and `AsyncResource.bind` calls, about a tenth of a refresh's CPU in the
 * HTTP pipeline (docs/performance.md, "Authentication").
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AppModule } from '../../apps/api/src/app.module';
import { AuthenticationGuard } from '../../apps/api/src/auth/authentication.guard';
import type { ApiInfrastructure } from '../../apps/api/src/infrastructure.module';
import { PersonalDataGuard } from '../../apps/api/src/identity/personal-data/personal-data.guard';

const API = join(__dirname, '..', '..', 'apps', 'api', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') ? [path] : [];
  });
}

describe('the request pipeline', () => {
  it('authenticates first (deny by default), then loads the person key; both are the only global guards', () => {
    const providers = (AppModule.with({} as ApiInfrastructure).providers ?? []) as Array<Provider & { provide?: unknown; useClass?: unknown }>;
    const guards = providers.filter((p) => p.provide === APP_GUARD).map((p) => p.useClass);
    expect(guards).toEqual([AuthenticationGuard, PersonalDataGuard]);
  });

  it('no route, controller or module adds an interceptor', () => {
    const offenders = sources(API).filter((file) => /\bAPP_INTERCEPTOR\b|@UseInterceptors\(|useGlobalInterceptors\(/.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('APP_GUARD is registered nowhere else, so the order above is the order Nest runs them in', () => {
    const offenders = sources(API).filter((file) => !file.endsWith('app.module.ts') && /\bAPP_GUARD\b/.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
