import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { AppConfig } from '../config/app-config';
import { EVENT_STORE_CLIENT } from '../event-store/event-store-client.provider';
import { Database } from '../database/database';
import { BalanceAsOfService } from './balance-as-of/balance-as-of.service';
import { ParentFeedService } from './feed/parent-feed.service';
import type { ProjectionReadOptions } from './projection';
import { ProjectionRunner } from './projection-runner';
import { PROJECTIONS } from './projections';
import { SubAccountHistoryService } from './history/sub-account-history.service';
import { UsageAnalyticsService } from './usage-analytics/usage-analytics.service';

const READ_OPTIONS = Symbol('PROJECTION_READ_OPTIONS');

/**
 * Starts the runner once every module is initialised (it subscribes and catches up in the background;
 * reads wait for it), and commits its last batch before the event-store client is disposed and the
 * database closed: Nest runs all `beforeApplicationShutdown` hooks before any `onApplicationShutdown`.
 */
@Injectable()
export class ProjectionsLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(private readonly runner: ProjectionRunner) {}

  onApplicationBootstrap(): Promise<void> {
    return this.runner.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.runner.stop({ commit: true });
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
      provide: ProjectionRunner,
      useFactory: (client: EventStoreDBClient, database: Database) =>
        new ProjectionRunner({
          client,
          projections: PROJECTIONS,
          database,
          logger: new Logger('Projections'),
        }),
      inject: [EVENT_STORE_CLIENT, Database],
    },
    {
      provide: SubAccountHistoryService,
      useFactory: (
        runner: ProjectionRunner,
        database: Database,
        client: EventStoreDBClient,
        options: ProjectionReadOptions,
      ) => new SubAccountHistoryService(runner, database, client, options),
      inject: [ProjectionRunner, Database, EVENT_STORE_CLIENT, READ_OPTIONS],
    },
    {
      provide: BalanceAsOfService,
      useFactory: (runner: ProjectionRunner, database: Database, options: ProjectionReadOptions) =>
        new BalanceAsOfService(runner, database, options),
      inject: [ProjectionRunner, Database, READ_OPTIONS],
    },
    {
      provide: UsageAnalyticsService,
      useFactory: (runner: ProjectionRunner, database: Database, options: ProjectionReadOptions) =>
        new UsageAnalyticsService(runner, database, options),
      inject: [ProjectionRunner, Database, READ_OPTIONS],
    },
    {
      provide: ParentFeedService,
      useFactory: (client: EventStoreDBClient) => new ParentFeedService(client),
      inject: [EVENT_STORE_CLIENT],
    },
    ProjectionsLifecycle,
  ],
  exports: [
    ProjectionRunner,
    SubAccountHistoryService,
    BalanceAsOfService,
    UsageAnalyticsService,
    ParentFeedService,
  ],
})
export class ProjectionsModule {}
