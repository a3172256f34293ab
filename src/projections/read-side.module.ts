import { Module } from '@nestjs/common';
import { LedgerApplicationModule } from '../ledger/application/ledger-application.module';
import { BalanceController } from './balance-as-of/balance.controller';
import { CreditScheduleModule } from './credit-schedule/credit-schedule.module';
import { ParentEventsController } from './feed/parent-events.controller';
import { HistoryController } from './history/history.controller';
import { ProjectionsModule } from './projections.module';
import { ReadYourWrites } from './read-your-writes';
import { UsageAnalyticsController } from './usage-analytics/usage-analytics.controller';

/**
 * The read side's routes, one feature slice each: a sub-account's history, its balance as of an
 * instant, usage analytics and the parent's event feed; and the credit schedule's timer (SPEC §10). The runner and the query services are
 * `ProjectionsModule`'s; the ledger's application is used only to check the key and the parent or
 * sub-account, and to learn how far the read models must have caught up.
 */
@Module({
  imports: [LedgerApplicationModule, ProjectionsModule, CreditScheduleModule],
  providers: [ReadYourWrites],
  controllers: [HistoryController, BalanceController, UsageAnalyticsController, ParentEventsController],
})
export class ReadSideModule {}
