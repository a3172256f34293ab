import { Module } from '@nestjs/common';
import { ProjectionsModule } from '../projections/projections.module';
import { EventStoreHealthIndicator } from './event-store.health-indicator';
import { HealthController } from './health.controller';

@Module({
  imports: [ProjectionsModule],
  controllers: [HealthController],
  providers: [EventStoreHealthIndicator],
})
export class HealthModule {}
