import { Module } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { Database } from '../../database/database';
import { LedgerApplicationModule } from '../../ledger/application/ledger-application.module';
import { LedgerService } from '../../ledger/application/ledger.service';
import {
  CREDIT_SCHEDULE_INTERVAL_MS,
  CREDIT_SCHEDULE_SETTINGS,
  CreditScheduler,
  type CreditScheduleSettings,
} from './credit-scheduler';

/** The timer of credit expiry and recurring allocations, with the configured grace (SUBLEDGER_EXPIRY_GRACE). */
@Module({
  imports: [LedgerApplicationModule],
  providers: [
    {
      provide: CREDIT_SCHEDULE_SETTINGS,
      useFactory: (config: AppConfig): CreditScheduleSettings => ({
        graceMs: config.expiryGraceMs,
        intervalMs: CREDIT_SCHEDULE_INTERVAL_MS,
      }),
      inject: [AppConfig],
    },
    {
      provide: CreditScheduler,
      useFactory: (ledger: LedgerService, database: Database, settings: CreditScheduleSettings) =>
        new CreditScheduler(ledger, database, settings),
      inject: [LedgerService, Database, CREDIT_SCHEDULE_SETTINGS],
    },
  ],
  exports: [CreditScheduler],
})
export class CreditScheduleModule {}
