import { Module } from '@nestjs/common';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { EVENT_STORE_CLIENT } from '../../event-store/event-store-client.provider';
import { createLedgerProcessor, LEDGER_PROCESSOR, LedgerService } from './ledger.service';

/** The one command processor of the `ledger` category and the service in front of it. */
@Module({
  providers: [
    {
      provide: LEDGER_PROCESSOR,
      useFactory: (client: EventStoreDBClient) => createLedgerProcessor(client),
      inject: [EVENT_STORE_CLIENT],
    },
    LedgerService,
  ],
  exports: [LedgerService],
})
export class LedgerApplicationModule {}
