import { Module } from '@nestjs/common';
import { LedgerApplicationModule } from '../ledger/application/ledger-application.module';
import { ProjectionsModule } from '../projections';
import { UsageAnalyticsController } from './usage-analytics.controller';

/** `GET /v1/parents/{p}/usage`, served by the usage-analytics projection. */
@Module({
  imports: [LedgerApplicationModule, ProjectionsModule],
  controllers: [UsageAnalyticsController],
})
export class AnalyticsModule {}
