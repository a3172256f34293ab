import { Module } from '@nestjs/common';
import { LedgerApplicationModule } from '../ledger/application/ledger-application.module';
import { BillingService } from './application/billing.service';
import { BillingController } from './http/billing.controller';

/** Billing periods, invoices and replay over the ledger's own stream and command processor. */
@Module({
  imports: [LedgerApplicationModule],
  providers: [BillingService],
  controllers: [BillingController],
})
export class BillingModule {}
