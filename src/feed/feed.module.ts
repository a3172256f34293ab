import { Module } from '@nestjs/common';
import { LedgerApplicationModule } from '../ledger/application/ledger-application.module';
import { ProjectionsModule } from '../projections';
import { ParentEventsController } from './parent-events.controller';

/** The event feed for internal services: `GET /v1/parents/{p}/events`, paged or live (SSE). */
@Module({
  imports: [LedgerApplicationModule, ProjectionsModule],
  controllers: [ParentEventsController],
})
export class FeedModule {}
