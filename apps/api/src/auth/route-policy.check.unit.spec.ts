import { Controller, Get, Module, Post } from '@nestjs/common';
import { DiscoveryModule, NestFactory } from '@nestjs/core';
import { Public } from './public.decorator';
import { Requires } from './requires.decorator';
import { assertEveryRouteDeclaresItsPermission } from './route-policy.check';

@Controller('declared')
class DeclaredController {
  @Public()
  @Get()
  open() {
    return {};
  }

  @Requires('task:create')
  @Post()
  create() {
    return {};
  }
}

@Controller('forgotten')
class ForgottenController {
  @Post()
  create() {
    return {};
  }
}

@Module({ imports: [DiscoveryModule], controllers: [DeclaredController] })
class GoodModule {}

@Module({ imports: [DiscoveryModule], controllers: [DeclaredController, ForgottenController] })
class BadModule {}

describe('every route declares the permission it needs', () => {
  it('an app whose routes all declare @Requires or @Public starts', async () => {
    const app = await NestFactory.create(GoodModule, { logger: false });
    expect(() => assertEveryRouteDeclaresItsPermission(app)).not.toThrow();
    await app.close();
  });

  it('the API refuses to start when a route declares nothing, and names it', async () => {
    const app = await NestFactory.create(BadModule, { logger: false });
    expect(() => assertEveryRouteDeclaresItsPermission(app)).toThrow(/ForgottenController\.create/);
    await app.close();
  });
});
