import { type INestApplication, RequestMethod } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { StartupError } from '@bastion/infra/runtime/startup-error';
import { IS_PUBLIC } from './public.decorator';
import { REQUIRES } from './requires.decorator';

/** Routes that say neither `@Public()` nor `@Requires(…)`; the API refuses to start while there is one. */
export function undeclaredRoutes(app: INestApplication): string[] {
  const discovery = app.get(DiscoveryService);
  const scanner = app.get(MetadataScanner);
  const reflector = app.get(Reflector);
  const missing: string[] = [];
  for (const wrapper of discovery.getControllers()) {
    const instance = wrapper.instance as object | undefined;
    if (!instance) continue;
    const prototype = Object.getPrototypeOf(instance) as object;
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = (prototype as Record<string, unknown>)[name] as (...args: unknown[]) => unknown;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (method === undefined) continue;
      const targets = [handler, wrapper.metatype as Function]; // eslint-disable-line @typescript-eslint/no-unsafe-function-type
      const declared = reflector.getAllAndOverride(IS_PUBLIC, targets) || reflector.getAllAndOverride(REQUIRES, targets);
      if (!declared) missing.push(`${RequestMethod[method]} ${String(Reflect.getMetadata(PATH_METADATA, wrapper.metatype as object))}/${String(Reflect.getMetadata(PATH_METADATA, handler))} (${wrapper.name}.${name})`);
    }
  }
  return missing;
}

export function assertEveryRouteDeclaresItsPermission(app: INestApplication): void {
  const missing = undeclaredRoutes(app);
  if (missing.length > 0) {
    throw new StartupError(`Every route must declare @Requires(permission) or @Public(); these do not: ${missing.join('; ')}.`);
  }
}
