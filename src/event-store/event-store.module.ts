import { DynamicModule, Global, Module } from '@nestjs/common';
import { EVENT_STORE_CLIENT, EventStoreConnection, eventStoreProviders } from './event-store-client.provider';
import type { StartingEmbeddedStore } from './embedded-store.process';

@Global()
@Module({})
export class EventStoreModule {
  /** `started`: the embedded store's process, when `main.ts` started it before the modules loaded. */
  static forRoot(started?: StartingEmbeddedStore): DynamicModule {
    return {
      module: EventStoreModule,
      providers: eventStoreProviders(started),
      exports: [EVENT_STORE_CLIENT, EventStoreConnection],
    };
  }
}
