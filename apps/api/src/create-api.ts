import { BadRequestException, type INestApplication, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Config } from '@bastion/infra/config/config';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import { json } from 'express';
import { AppModule } from './app.module';
import { assertEveryRouteDeclaresItsPermission } from './auth/route-policy.check';
import { problemType } from './http/problem';
import { ProblemDetailsFilter } from './http/problem-details.filter';
import { openApiInfrastructure } from './infrastructure.module';

/**
 * `TRUST_PROXY` lists the proxies whose `X-Forwarded-For` is believed. Empty (the default) means the socket's
 * address is the client's, so a forged header can neither dodge a rate limit nor falsify the audit trail.
 */
export function trustProxySetting(value: string): false | string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length === 0 ? false : list;
}

export async function createApi(config: Config, logger: JsonLogger): Promise<INestApplication> {
  const infra = await openApiInfrastructure(config, logger);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.with(infra), {
    logger,
    bodyParser: false,
    abortOnError: false,
  });
  app.set('trust proxy', trustProxySetting(config.TRUST_PROXY));
  app.disable('x-powered-by');
  app.use(json({ limit: '256kb', type: ['application/json', 'application/*+json'] }));
  app.useGlobalFilters(new ProblemDetailsFilter(logger));
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) =>
        new BadRequestException({
          type: problemType('validation'),
          title: 'the request is not valid',
          status: 400,
          errors: errors.flatMap((e) =>
            Object.values(e.constraints ?? { invalid: 'is invalid' }).map((message) => ({ field: e.property, message })),
          ),
        }),
    }),
  );
  app.enableShutdownHooks();
  assertEveryRouteDeclaresItsPermission(app);

  const openApi = new DocumentBuilder()
    .setTitle('Bastion API')
    .setDescription('Event-sourced backend where agents and humans build software together; only humans approve merges.')
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, openApi), { jsonDocumentUrl: 'docs-json' });
  return app;
}
