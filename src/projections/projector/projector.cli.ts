import { ConfigError, loadConfig } from '../../config/app-config';
import { Database } from '../../database/database';
import { EventStoreConnection } from '../../event-store/event-store-client.provider';
import { ProjectionRunner } from '../projection-runner';
import { PROJECTIONS } from '../projections';
import { boundHeapGrowth } from '../../observability/heap-growth';

/**
 * `npm run projector`: the projections in a process of their own, which is how a deployment scales
 * reads: one projector (or a few, on one database the checkpoint rows keep them from writing an event
 * twice) and any number of API instances started with `SUBLEDGER_PROJECTOR=external`, which follow the
 * checkpoint rows this notifies with each batch. Same settings as the service: EVENTSTORE_CONNECTION_STRING
 * or the embedded store on SUBLEDGER_DATA_DIR (joining a running service's), DATABASE_URL or the embedded
 * PostgreSQL on that folder. SIGTERM or SIGINT commits the last batch and exits 0.
 */
async function main(): Promise<void> {
  boundHeapGrowth();
  const config = loadConfig(process.env);
  const connection = await EventStoreConnection.open(config.eventStore, { joinRunning: true });
  const database = await Database.open(config.database);
  const write = (message: string) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg: message })}\n`);
  const runner = new ProjectionRunner({
    client: connection.client,
    projections: PROJECTIONS,
    database,
    logger: { log: write, warn: write, error: write },
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      write('Projector stopping: committing the last batch');
      try {
        await runner.stop({ commit: true });
      } finally {
        await database.close();
        await connection.onApplicationShutdown();
      }
      write('Projector stopped');
    })();
    stopping.then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Projector failed to stop cleanly: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await runner.start();
  write(
    `Projector running ${PROJECTIONS.map((p) => `${p.name} v${p.version}`).join(', ')} into ${database.location}`,
  );
  await runner.whenCaughtUp(24 * 3_600_000).then(
    () => write('Projector caught up; following the log'),
    () => undefined,
  );
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`Projector failed: ${message}\n`);
  process.exit(1);
});
