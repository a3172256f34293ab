import { performance } from 'node:perf_hooks';
import { ConfigError, loadConfig } from '../config/app-config';
import { EventStoreConnection } from '../event-store/event-store-client.provider';
import { ProjectionRunner } from './projection-runner';
import { promises as fs } from 'node:fs';
import {
  FileProjectionStateStore,
  markRebuildComplete,
  stagedRebuildDirectory,
} from './projection-state.store';
import { PROJECTIONS } from './projections';
import { projectionStateStoreFor } from './projections.module';

/**
 * `npm run rebuild`: folds the whole log into fresh projection files. It reads the store named by
 * EVENTSTORE_CONNECTION_STRING, or the embedded store on SUBLEDGER_DATA_DIR: through the running
 * service's store when one serves that folder (SPEC §8: the tools work while the service runs), else
 * by opening it itself.
 *
 * With the service stopped, each file is replaced atomically once its projection is complete. With it
 * running, the service keeps saving its own files, so the rebuild is staged beside them
 * (`projections.rebuilt/`, marked complete last) and the service adopts it at its next start.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const live = projectionStateStoreFor(config);
  if (!(live instanceof FileProjectionStateStore)) {
    throw new Error(
      'The event store is in memory (SUBLEDGER_EVENTSTORE_MEMORY): there is nothing to rebuild',
    );
  }
  const connection = await EventStoreConnection.open(config.eventStore, { joinRunning: true });
  const staged = connection.joinedRunningStore;
  const store = staged ? new FileProjectionStateStore(stagedRebuildDirectory(live.directory)) : live;
  if (staged) await fs.rm(store.directory, { recursive: true, force: true });
  try {
    const runner = new ProjectionRunner({
      client: connection.client,
      projections: PROJECTIONS,
      store,
      fresh: true,
      // One save at the end: a half-built state is of no use to anyone.
      saveEveryEvents: Number.POSITIVE_INFINITY,
      saveEveryMs: Number.POSITIVE_INFINITY,
      logger: {
        log: () => {},
        warn: (m) => process.stderr.write(`${m}\n`),
        error: (m) => process.stderr.write(`${m}\n`),
      },
    });
    const startedAt = performance.now();
    await runner.start();
    for (;;) {
      try {
        await runner.whenCaughtUp(5_000);
        break;
      } catch {
        const now = performance.now();
        const rate = Math.round(runner.eventsDelivered / ((now - startedAt) / 1000));
        process.stderr.write(`… ${runner.eventsDelivered} events so far, ${rate} events/s\n`);
      }
    }
    const foldedMs = performance.now() - startedAt;
    await runner.stop({ save: true });
    if (staged) await markRebuildComplete(store.directory);
    const totalMs = performance.now() - startedAt;
    const events = runner.eventsDelivered;
    process.stdout.write(
      `Rebuilt ${PROJECTIONS.map((p) => `${p.name} v${p.version}`).join(', ')} into ${store.directory}\n` +
        `${events} ledger events folded in ${(foldedMs / 1000).toFixed(2)} s ` +
        `(${Math.round(events / (foldedMs / 1000))} events/s); saved in ${((totalMs - foldedMs) / 1000).toFixed(2)} s\n` +
        (staged
          ? `The service is running on this data folder and keeps its own files until it restarts: ` +
            `it adopts this rebuild at its next start.\n`
          : ''),
    );
  } finally {
    await connection.onApplicationShutdown();
  }
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`Rebuild failed: ${message}\n`);
  process.exit(1);
});
