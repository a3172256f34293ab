import { Module } from '@nestjs/common';
import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Registry } from 'prom-client';
import { API_KEY_DIRECTORY } from '../../auth/api-key-directory';
import { AppConfig } from '../../config/app-config';
import { commandProcessorMetrics } from '../../event-store/command-processor-metrics';
import { EVENT_STORE_CLIENT } from '../../event-store/event-store-client.provider';
import { METRICS_REGISTRY } from '../../observability/metrics-registry.module';
import { ClockFloor } from './clock-floor';
import { LedgerKeyDirectory } from './ledger-key-directory';
import { createLedgerProcessor, LEDGER_PROCESSOR, LedgerService } from './ledger.service';

/**
 * The one command processor of the `ledger` category, the service in front of it, and auth's key
 * directory answered from it.
 */
@Module({
  providers: [
    {
      provide: LEDGER_PROCESSOR,
      useFactory: (client: EventStoreDBClient, registry: Registry, config: AppConfig) =>
        createLedgerProcessor(client, {
          observer: commandProcessorMetrics(registry, 'ledger'),
          exclusiveWriter: config.eventStore.kind === 'embedded',
        }),
      inject: [EVENT_STORE_CLIENT, METRICS_REGISTRY, AppConfig],
    },
    LedgerService,
    ClockFloor,
    { provide: API_KEY_DIRECTORY, useClass: LedgerKeyDirectory },
  ],
  exports: [LedgerService, API_KEY_DIRECTORY],
})
export class LedgerApplicationModule {}
