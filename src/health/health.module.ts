import { Module } from '@nestjs/common';
import { EventStoreHealthIndicator } from './event-store.health-indicator';
import { HealthController } from './health.controller';

@Module({
  controllers: [HealthController],
  providers: [EventStoreHealthIndicator],
})
export class HealthModule {}
