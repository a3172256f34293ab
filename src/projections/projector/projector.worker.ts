import { parentPort, workerData } from 'node:worker_threads';
import { EventStoreDBClient } from '@eventstore/db-client';
import { Database } from '../../database/database';
import { ProjectionRunner } from '../projection-runner';
import { PROJECTIONS } from '../projections';
import {
  toWire,
  type ProjectorCommand,
  type ProjectorMessage,
  type ProjectorThreadData,
} from './projector-messages';

/**
 * Longer than the runner's 10 ms: this thread's batches hold the API's thread back from nothing, and a
 * reader waiting for a position cuts the linger short (`want`), so fewer, larger transactions cost less
 * CPU per event (docs/decisions.md has the figures).
 */
const THREAD_LINGER_MS = 50;

/**
 * The projector thread (`ProjectorThread` starts it): the runner with a client and a pool of its own,
 * so decoding `$all` (the client's protobuf, ~25 µs an event) and building the rows run on this
 * thread's event loop, not on the one that answers HTTP. It reports its committed position to the API's
 * thread, at most once per turn of its loop.
 */
async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as ProjectorThreadData;
  const post = (message: ProjectorMessage) => port.postMessage(message);
  const client = EventStoreDBClient.connectionString(data.eventStoreConnectionString);
  const database = await Database.open({ kind: 'external', url: data.databaseUrl });
  let scheduled = false;
  const runner: ProjectionRunner = new ProjectionRunner({
    client,
    projections: PROJECTIONS,
    database,
    lingerMs: THREAD_LINGER_MS,
    logger: {
      log: (message) => post({ type: 'log', level: 'log', message }),
      warn: (message) => post({ type: 'log', level: 'warn', message }),
      error: (message) => post({ type: 'log', level: 'error', message }),
    },
    onProgress: () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        post({
          type: 'progress',
          committed: runner.committedPosition?.commit.toString() ?? null,
          caughtUp: runner.isCaughtUp(),
          status: toWire(runner.status()),
        });
      });
    },
  });
  port.on('message', (command: ProjectorCommand) => {
    if (command.type === 'want') {
      runner.want(BigInt(command.commit));
      return;
    }
    void (async () => {
      try {
        await runner.stop({ commit: command.commit });
      } finally {
        await database.close().catch(() => undefined);
        await client.dispose().catch(() => undefined);
        post({ type: 'stopped' });
        port.close();
      }
    })();
  });
  await runner.start();
  post({ type: 'started' });
}

main().catch((error: unknown) => {
  parentPort!.postMessage({
    type: 'failed',
    message: error instanceof Error ? error.message : String(error),
  } satisfies ProjectorMessage);
});
