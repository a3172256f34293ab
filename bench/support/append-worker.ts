import { parentPort, workerData } from 'node:worker_threads';
import {
  EventStoreDBClient,
  NO_STREAM,
  type AppendExpectedRevision,
  type EventData,
} from '@eventstore/db-client';
import { LedgerLog } from './ledger-log';
import { useNativeBase64ForAppends } from '../../src/event-store/append-encoding';

/**
 * One client of the append figure, in a worker thread of its own (see `benchAppend`): its own
 * `EventStoreDBClient` (so its own HTTP/2 connection), its own ledger streams, one writer per stream
 * appending its batches one after the other with the exact expected revision.
 *
 * Protocol with the main thread: `ready` once the streams are opened and every batch is decided, then
 * `go` from the main thread starts the writers, then `done` with the latencies of every append.
 */
export interface AppendWorkerInput {
  readonly connectionString: string;
  /** Encode appends as the service does (`useNativeBase64ForAppends`), or with the client as shipped. */
  readonly serviceEncoding: boolean;
  readonly streamNames: readonly string[];
  readonly batchesPerStream: number;
  readonly batch: number;
}

export type AppendWorkerMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'done'; readonly latencies: number[] }
  | { readonly kind: 'failed'; readonly error: string };

async function main(input: AppendWorkerInput): Promise<void> {
  const port = parentPort!;
  if (input.serviceEncoding) useNativeBase64ForAppends();
  const client = EventStoreDBClient.connectionString(input.connectionString);
  try {
    const writers: { stream: string; batches: EventData[][]; revision: AppendExpectedRevision }[] = [];
    for (const parentId of input.streamNames) {
      const log = new LedgerLog(parentId);
      const opened = await client.appendToStream(log.streamName, log.open(16, 1_000_000_000), {
        expectedRevision: NO_STREAM,
      });
      const batches: EventData[][] = [];
      for (let n = 0; n < input.batchesPerStream; n++) batches.push(log.usage(input.batch));
      writers.push({ stream: log.streamName, batches, revision: opened.nextExpectedRevision });
    }
    const go = new Promise<void>((resolve) => port.once('message', () => resolve()));
    port.postMessage({ kind: 'ready' } satisfies AppendWorkerMessage);
    await go;
    const latencies: number[] = [];
    await Promise.all(
      writers.map(async (writer) => {
        for (const batch of writer.batches) {
          const t0 = performance.now();
          const result = await client.appendToStream(writer.stream, batch, {
            expectedRevision: writer.revision,
          });
          latencies.push(performance.now() - t0);
          writer.revision = result.nextExpectedRevision;
        }
      }),
    );
    port.postMessage({ kind: 'done', latencies } satisfies AppendWorkerMessage);
  } finally {
    await client.dispose();
  }
}

main(workerData as AppendWorkerInput).catch((error: unknown) => {
  parentPort!.postMessage({
    kind: 'failed',
    error: error instanceof Error ? (error.stack ?? error.message) : String(error),
  } satisfies AppendWorkerMessage);
});
