import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ProjectionsModule } from '../projections';
import { LedgerApplicationModule } from './application/ledger-application.module';
import { MeController } from './http/me.controller';
import { ParentsController } from './http/parents.controller';
import { SubAccountReadsController } from './http/sub-account-reads.controller';
import { SubAccountsController } from './http/sub-accounts.controller';
import { UsageController } from './http/usage.controller';

/** The credit ledger's HTTP API: parents, sub-accounts, credits, usage, keys, balances and history. */
@Module({
  imports: [LedgerApplicationModule, AuthModule, ProjectionsModule],
  controllers: [
    ParentsController,
    SubAccountsController,
    UsageController,
    SubAccountReadsController,
    MeController,
  ],
})
export class LedgerModule {}
