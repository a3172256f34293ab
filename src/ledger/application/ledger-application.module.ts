import { Module } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Registry } from 'prom-client';
import { API_KEY_DIRECTORY } from '../../auth/api-key-directory';
import { ApiKeyRegistry } from '../../auth/api-key.registry';
import { AppConfig } from '../../config/app-config';
import { commandProcessorMetrics } from '../../event-store/command-processor-metrics';
import { EVENT_STORE_CLIENT } from '../../event-store/event-store-client.provider';
import { METRICS_REGISTRY } from '../../observability/metrics-registry.module';
import { ClockFloor } from './clock-floor';
import { LEDGER_COMMAND_HANDLERS } from './commands';
import { InvoiceChunkWriter } from './invoice-chunk.writer';
import { LedgerKeyDirectory } from './ledger-key-directory';
import { createLedgerProcessor, LEDGER_PROCESSOR, LedgerService } from './ledger.service';
import { USAGE_KEY_INDEX, type UsageKeyIndex } from './usage-key-index';
import { REVERSIBLE_USAGE_INDEX, type ReversibleUsageIndex } from './reversible-usage-index';

/**
 * The one command processor of the `ledger` category, the service in front of it, a command handler
 * per ledger command on the `CommandBus` (`CqrsModule`, global: billing sends its close there too),
 * and auth's key directory answered from it, with auth's registry in front of it (the key handler
 * remembers the keys it issues there). Only the command bus of `@nestjs/cqrs` is used: events
 * reach the read side through the store's subscriptions, not its in-memory `EventBus`.
 */
@Module({
  imports: [CqrsModule.forRoot()],
  providers: [
    ...LEDGER_COMMAND_HANDLERS,
    {
      provide: LEDGER_PROCESSOR,
      useFactory: (
        client: EventStoreDBClient,
        registry: Registry,
        config: AppConfig,
        usageKeyIndex: UsageKeyIndex | undefined,
        reversibleUsageIndex: ReversibleUsageIndex | undefined,
      ) =>
        createLedgerProcessor(client, {
          observer: commandProcessorMetrics(registry, 'ledger'),
          exclusiveWriter: config.eventStore.kind === 'embedded',
          ...(usageKeyIndex ? { usageKeyIndex } : {}),
          ...(reversibleUsageIndex ? { reversibleUsageIndex } : {}),
        }),
      inject: [
        EVENT_STORE_CLIENT,
        METRICS_REGISTRY,
        AppConfig,
        { token: USAGE_KEY_INDEX, optional: true },
        { token: REVERSIBLE_USAGE_INDEX, optional: true },
      ],
    },
    LedgerService,
    InvoiceChunkWriter,
    ClockFloor,
    { provide: API_KEY_DIRECTORY, useClass: LedgerKeyDirectory },
    ApiKeyRegistry,
  ],
  exports: [LedgerService, API_KEY_DIRECTORY, ApiKeyRegistry],
})
export class LedgerApplicationModule {}
