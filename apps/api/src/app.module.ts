import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { AuthenticationGuard } from './auth/authentication.guard';
import { HealthController } from './health/health.controller';
import { IdentityModule } from './identity/identity.module';
import { PersonalDataGuard } from './identity/personal-data/personal-data.guard';
import { type ApiInfrastructure, InfrastructureModule } from './infrastructure.module';
import { LiveModule } from './live/live.module';
import { AuditModule } from './audit/audit.module';
import { SecurityModule } from './security/security.module';
import { CodeModule } from './code/code.module';

@Module({})
export class AppModule {
  static with(infra: ApiInfrastructure): DynamicModule {
    return {
      module: AppModule,
      imports: [DiscoveryModule, InfrastructureModule.forRoot(infra), IdentityModule, LiveModule, AuditModule, SecurityModule, CodeModule],
      controllers: [HealthController],
      // Deny by default: every route needs a valid access token unless it says @Public(). Then, in this order, the
      // principal's person key for the events the route appends (a guard that never refuses).
      providers: [
        { provide: APP_GUARD, useClass: AuthenticationGuard },
        { provide: APP_GUARD, useClass: PersonalDataGuard },
      ],
    };
  }
}
