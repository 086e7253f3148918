import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { HealthController } from './health/health.controller';
import { DenyByDefaultGuard } from './http/deny-by-default.guard';
import { type ApiInfrastructure, InfrastructureModule } from './infrastructure.module';

@Module({})
export class AppModule {
  static with(infra: ApiInfrastructure): DynamicModule {
    return {
      module: AppModule,
      imports: [InfrastructureModule.forRoot(infra)],
      controllers: [HealthController],
      providers: [{ provide: APP_GUARD, useClass: DenyByDefaultGuard }],
    };
  }
}
