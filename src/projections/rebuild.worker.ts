import { performance } from 'node:perf_hooks';
import { ConfigError, loadConfig } from '../config/app-config';
import { Database } from '../database/database';
import { EventStoreConnection } from '../event-store/event-store-client.provider';
import { ProjectionRebuildingError } from './projection.errors';
import { ProjectionRunner } from './projection-runner';
import { PROJECTIONS } from './projections';

/**
 * The rebuild itself, on the thread `npm run rebuild` starts (rebuild.cli.ts): folds the whole log again
 * into every projection's tables. It reads the store named by EVENTSTORE_CONNECTION_STRING, or the
 * embedded store on SUBLEDGER_DATA_DIR (through the running service's store when one serves that
 * folder, SPEC §8), and writes to DATABASE_URL's PostgreSQL, or the embedded one on that folder
 * (joining the service's server when it runs).
 *
 * The tables are emptied and refilled in ONE transaction, committed at the end: until then everyone
 * reads the old rows, and a running service's batches wait on the checkpoint rows this holds, then
 * skip what the rebuild wrote and go on after it. Interrupted, it rolls back and nothing changed.
 */
async function rebuild(): Promise<void> {
  const config = loadConfig(process.env);
  const connection = await EventStoreConnection.open(config.eventStore, { joinRunning: true });
  const database = await Database.open(config.database);
  let runner: ProjectionRunner | undefined;
  /** What the runner last warned of (the store not answering, and why), for the message if it gives up. */
  let lastWarning: string | undefined;
  try {
    runner = new ProjectionRunner({
      client: connection.client,
      projections: PROJECTIONS,
      database,
      fresh: true,
      // The client's decoding on a thread of its own, beside the folding and the writes (decision 82).
      readerThread: connection.connectionString,
      logger: {
        log: () => {},
        warn: (m) => {
          lastWarning = m;
          process.stderr.write(`${m}\n`);
        },
        error: (m) => process.stderr.write(`${m}\n`),
      },
    });
    const startedAt = performance.now();
    await runner.start();
    const patienceMs = config.readModels.rebuildPatienceMs;
    let progressAt = startedAt;
    let delivered = 0;
    for (;;) {
      try {
        await runner.whenCaughtUp(Math.min(5_000, patienceMs));
        break;
      } catch (error) {
        if (!(error instanceof ProjectionRebuildingError)) throw error;
        const now = performance.now();
        if (runner.eventsDelivered !== delivered) {
          delivered = runner.eventsDelivered;
          progressAt = now;
        } else if (now - progressAt >= patienceMs) {
          // The runner would retry for ever, as a service must; a tool run by hand gives up (decision 87).
          throw new Error(
            `no event read for ${Math.round((now - progressAt) / 1000)} s (SUBLEDGER_REBUILD_PATIENCE_MS) after ` +
              `${delivered} events; nothing was committed` +
              (lastWarning === undefined ? '' : `. Last: ${lastWarning}`),
            { cause: error },
          );
        }
        const rate = Math.round(runner.eventsDelivered / ((now - startedAt) / 1000));
        process.stderr.write(`… ${runner.eventsDelivered} events so far, ${rate} events/s\n`);
      }
    }
    const foldedMs = performance.now() - startedAt;
    await runner.stop({ commit: true });
    const totalMs = performance.now() - startedAt;
    const events = runner.eventsDelivered;
    process.stdout.write(
      `Rebuilt ${PROJECTIONS.map((p) => `${p.name} v${p.version}`).join(', ')} in ${database.location}\n` +
        `${events} events read and written in ${(foldedMs / 1000).toFixed(2)} s ` +
        `(${Math.round(events / (foldedMs / 1000))} events/s); committed in ${((totalMs - foldedMs) / 1000).toFixed(2)} s\n`,
    );
    // What a large catch-up of the service does before it serves (decision 83): after a bulk load.
    const tables = PROJECTIONS.flatMap((projection) => projection.tables);
    await database.vacuumAnalyze(tables);
    process.stdout.write(
      `Vacuumed and analysed ${tables.length} tables in ${((performance.now() - startedAt - totalMs) / 1000).toFixed(2)} s\n`,
    );
  } finally {
    // After a failure: roll the transaction back and give its connections back, or closing the pool
    // would wait for them forever (after a success this returns at once: the runner is stopped).
    await runner?.stop({ commit: false });
    await database.close();
    await connection.onApplicationShutdown();
  }
}

rebuild().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`Rebuild failed: ${message}\n`);
  process.exitCode = 1;
});
