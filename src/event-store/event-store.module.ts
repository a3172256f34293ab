import { Global, Module } from '@nestjs/common';
import { EVENT_STORE_CLIENT, EventStoreConnection, eventStoreProviders } from './event-store-client.provider';

@Global()
@Module({
  providers: eventStoreProviders,
  exports: [EVENT_STORE_CLIENT, EventStoreConnection],
})
export class EventStoreModule {}
