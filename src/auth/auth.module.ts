import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { LedgerApplicationModule } from '../ledger/application/ledger-application.module';
import { ApiKeyRegistry } from './api-key.registry';
import { AuthGuard } from './auth.guard';

/** The global guard: every `/v1` route is authenticated, whichever module declares it. */
@Module({
  imports: [LedgerApplicationModule],
  providers: [ApiKeyRegistry, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [ApiKeyRegistry],
})
export class AuthModule {}
