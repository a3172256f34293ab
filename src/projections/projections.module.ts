import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { AppConfig } from '../config/app-config';
import { EVENT_STORE_CLIENT, EventStoreConnection } from '../event-store/event-store-client.provider';
import { Database } from '../database/database';
import { BalanceAsOfService } from './balance-as-of/balance-as-of.service';
import { ParentFeedService } from './feed/parent-feed.service';
import type { ProjectionReadOptions } from './projection';
import { ProjectionRunner } from './projection-runner';
import { PROJECTIONS } from './projections';
import { CheckpointFollower } from './projector/checkpoint-follower';
import { ProjectorThread } from './projector/projector-thread';
import { ReadModelProgress } from './read-model-progress';
import { SubAccountHistoryService } from './history/sub-account-history.service';
import { UsageAnalyticsService } from './usage-analytics/usage-analytics.service';

const READ_OPTIONS = Symbol('PROJECTION_READ_OPTIONS');
const PROJECTOR = Symbol('PROJECTOR');

/** Whichever projector `SUBLEDGER_PROJECTOR` chose: the progress the API reads, started and stopped here. */
type Projector = ReadModelProgress & {
  start(): Promise<void>;
  stop(opts?: { commit?: boolean }): Promise<void>;
};

function projectorFor(config: AppConfig, connection: EventStoreConnection, database: Database): Projector {
  const logger = new Logger('Projections');
  switch (config.readModels.projector) {
    case 'inline':
      return new ProjectionRunner({ client: connection.client, projections: PROJECTIONS, database, logger });
    case 'external':
      return new CheckpointFollower({
        client: connection.client,
        database,
        projections: PROJECTIONS,
        logger,
      });
    case 'thread':
      return new ProjectorThread({
        eventStoreConnectionString: connection.connectionString,
        databaseUrl: database.url,
        projections: PROJECTIONS,
        logger,
      });
  }
}

/**
 * Starts the projector once every module is initialised (it catches up in the background; reads wait
 * for it), and commits its last batch before the event-store client is disposed and the database
 * closed: Nest runs all `beforeApplicationShutdown` hooks before any `onApplicationShutdown`.
 */
@Injectable()
export class ProjectionsLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(PROJECTOR) private readonly projector: Projector) {}

  onApplicationBootstrap(): Promise<void> {
    return this.projector.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.projector.stop({ commit: true });
  }
}

@Module({
  providers: [
    {
      provide: READ_OPTIONS,
      useFactory: (config: AppConfig): ProjectionReadOptions => ({
        readTimeoutMs: config.readModels.catchUpTimeoutMs,
      }),
      inject: [AppConfig],
    },
    {
      provide: PROJECTOR,
      useFactory: projectorFor,
      inject: [AppConfig, EventStoreConnection, Database],
    },
    { provide: ReadModelProgress, useExisting: PROJECTOR },
    {
      provide: SubAccountHistoryService,
      useFactory: (progress: ReadModelProgress, database: Database, options: ProjectionReadOptions) =>
        new SubAccountHistoryService(progress, database, options),
      inject: [ReadModelProgress, Database, READ_OPTIONS],
    },
    {
      provide: BalanceAsOfService,
      useFactory: (progress: ReadModelProgress, database: Database, options: ProjectionReadOptions) =>
        new BalanceAsOfService(progress, database, options),
      inject: [ReadModelProgress, Database, READ_OPTIONS],
    },
    {
      provide: UsageAnalyticsService,
      useFactory: (progress: ReadModelProgress, database: Database, options: ProjectionReadOptions) =>
        new UsageAnalyticsService(progress, database, options),
      inject: [ReadModelProgress, Database, READ_OPTIONS],
    },
    {
      provide: ParentFeedService,
      useFactory: (client: EventStoreDBClient) => new ParentFeedService(client),
      inject: [EVENT_STORE_CLIENT],
    },
    ProjectionsLifecycle,
  ],
  exports: [
    ReadModelProgress,
    SubAccountHistoryService,
    BalanceAsOfService,
    UsageAnalyticsService,
    ParentFeedService,
  ],
})
export class ProjectionsModule {}
