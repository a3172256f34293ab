import { Global, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Database } from './database';

/**
 * Closes the pool (and stops an embedded server this process owns) after every other shutdown hook:
 * Nest runs all `beforeApplicationShutdown` hooks, where the projections write their last batch, before
 * any `onApplicationShutdown`.
 */
@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(private readonly database: Database) {}

  onApplicationShutdown(): Promise<void> {
    return this.database.close();
  }
}

/** The read side's PostgreSQL, for every module that keeps or queries read models. */
@Global()
@Module({
  providers: [
    {
      provide: Database,
      useFactory: async (config: AppConfig) => {
        const logger = new Logger('Database');
        const database = await Database.open(config.database, logger);
        logger.log(`Read models in PostgreSQL at ${database.location}`);
        return database;
      },
      inject: [AppConfig],
    },
    DatabaseLifecycle,
  ],
  exports: [Database],
})
export class DatabaseModule {}
