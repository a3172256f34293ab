import { Logger } from '@nestjs/common';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { ConfigError, loadConfig } from '../config/app-config';
import { EventStoreConnection } from './event-store-client.provider';

/**
 * The frame of a command-line tool that reads the event store (SPEC §8: `npm run replay`, `npm run
 * verify`, … work while the service runs): the store named by EVENTSTORE_CONNECTION_STRING, or the
 * embedded store on SUBLEDGER_DATA_DIR, joined through the running service's store when one serves that
 * folder. `parse` reads the arguments first (a usage error opens no store); `work` writes its report to
 * stdout and returns the exit code; any error exits 1 with `<name> failed: <why>` on stderr.
 */
export function runStoreTool<Args>(
  name: string,
  parse: () => Args,
  work: (client: EventStoreDBClient, args: Args) => Promise<number>,
): void {
  const run = async (): Promise<number> => {
    const args = parse();
    // stdout carries the report alone; the embedded store's start-up lines would corrupt it.
    Logger.overrideLogger(['error', 'warn']);
    const config = loadConfig(process.env);
    const connection = await EventStoreConnection.open(config.eventStore, { joinRunning: true });
    try {
      return await work(connection.client, args);
    } finally {
      await connection.onApplicationShutdown();
    }
  };
  run().then(
    (code) => process.exit(code),
    (error: unknown) => {
      const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
      process.stderr.write(`${name} failed: ${message}\n`);
      process.exit(1);
    },
  );
}
