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
import { BalanceAsOfService } from './balance-as-of/balance-as-of.projection';
import { ParentFeedService } from './feed/parent-feed.service';
import type { ProjectionReadOptions } from './projection';
import { ProjectionRunner } from './projection-runner';
import {
  adoptStagedRebuild,
  FileProjectionStateStore,
  InMemoryProjectionStateStore,
  type ProjectionStateStore,
} from './projection-state.store';
import { PROJECTIONS } from './projections';
import { SubAccountHistoryService } from './history/sub-account-history.service';
import { UsageAnalyticsService } from './usage-analytics/usage-analytics.service';

/**
 * Files under the configured read-model folder (`<SUBLEDGER_DATA_DIR>/projections`); an in-memory
 * store gets in-memory projections, since files would outlive the events they were built from.
 */
export function projectionStateStoreFor(config: AppConfig): ProjectionStateStore {
  const directory = config.readModels.directory;
  return directory === undefined
    ? new InMemoryProjectionStateStore()
    : new FileProjectionStateStore(directory);
}

const READ_OPTIONS = Symbol('PROJECTION_READ_OPTIONS');

/**
 * Starts the runner once every module is initialised (it subscribes and catches up in the background;
 * reads wait for it), and saves every projection before the event-store client is disposed: Nest runs
 * all `beforeApplicationShutdown` hooks before any `onApplicationShutdown`.
 */
@Injectable()
export class ProjectionsLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(private readonly runner: ProjectionRunner) {}

  onApplicationBootstrap(): Promise<void> {
    return this.runner.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.runner.stop({ save: true });
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
      useFactory: async (client: EventStoreDBClient, config: AppConfig) => {
        const store = projectionStateStoreFor(config);
        const logger = new Logger('Projections');
        if (store instanceof FileProjectionStateStore) {
          const staged = await adoptStagedRebuild(store.directory);
          if (staged === 'adopted') logger.log(`Adopted the rebuild staged by npm run rebuild`);
          if (staged === 'dropped') logger.warn(`Dropped an incomplete rebuild (it was interrupted)`);
        }
        return new ProjectionRunner({ client, projections: PROJECTIONS, store, logger });
      },
      inject: [EVENT_STORE_CLIENT, AppConfig],
    },
    {
      provide: SubAccountHistoryService,
      useFactory: (runner: ProjectionRunner, client: EventStoreDBClient, options: ProjectionReadOptions) =>
        new SubAccountHistoryService(runner, client, options),
      inject: [ProjectionRunner, EVENT_STORE_CLIENT, READ_OPTIONS],
    },
    {
      provide: BalanceAsOfService,
      useFactory: (runner: ProjectionRunner, options: ProjectionReadOptions) =>
        new BalanceAsOfService(runner, options),
      inject: [ProjectionRunner, READ_OPTIONS],
    },
    {
      provide: UsageAnalyticsService,
      useFactory: (runner: ProjectionRunner, options: ProjectionReadOptions) =>
        new UsageAnalyticsService(runner, options),
      inject: [ProjectionRunner, READ_OPTIONS],
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
