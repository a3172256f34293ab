import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { LedgerApplicationModule } from './application/ledger-application.module';
import { MeController } from './http/me.controller';
import { ParentsController } from './http/parents.controller';
import { SubAccountsController } from './http/sub-accounts.controller';
import { UsageReversalController } from './http/usage-reversal.controller';
import { UsageController } from './http/usage.controller';

/**
 * The credit ledger's write-side HTTP API: parents, sub-accounts, credits, usage, keys, and the
 * current state they answer with. Reads served by projections are the read side's (src/projections).
 */
@Module({
  imports: [LedgerApplicationModule, AuthModule.withKeyDirectory(LedgerApplicationModule)],
  controllers: [
    ParentsController,
    SubAccountsController,
    UsageController,
    UsageReversalController,
    MeController,
  ],
})
export class LedgerModule {}
