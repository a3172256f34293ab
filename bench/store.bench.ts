import { randomUUID } from 'node:crypto';
import {
  EventStoreDBClient,
  NO_STREAM,
  START,
  type AppendExpectedRevision,
  type EventData,
} from '@eventstore/db-client';
import { LedgerLog } from './support/ledger-log';
import { startChild, type Runtime } from './support/processes';
import { percentile } from './support/stats';

export interface AppendResult {
  readonly events: number;
  readonly eventsPerSec: number;
  readonly appendP50Ms: number;
  readonly appendP99Ms: number;
}

/**
 * Batches of 100 ledger events, `streams` appends in flight (one writer per parent stream, each with
 * the exact expected revision, as the service appends). The events are made before the clock starts,
 * so only the client's serialisation, the wire and the store's durable append are timed.
 */
export async function benchAppend(
  client: EventStoreDBClient,
  opts: { events: number; streams: number; batch: number },
): Promise<AppendResult> {
  const perStream = Math.ceil(opts.events / opts.streams / opts.batch) * opts.batch;
  const writers: { stream: string; batches: EventData[][]; revision: AppendExpectedRevision }[] = [];
  const runId = randomUUID().slice(0, 8);
  for (let s = 0; s < opts.streams; s++) {
    const log = new LedgerLog(`bench-${runId}-${s}`);
    const opening = log.open(16, 1_000_000_000);
    const opened = await client.appendToStream(log.streamName, opening, { expectedRevision: NO_STREAM });
    const batches: EventData[][] = [];
    for (let n = 0; n < perStream; n += opts.batch) batches.push(log.usage(opts.batch));
    writers.push({ stream: log.streamName, batches, revision: opened.nextExpectedRevision });
  }
  const latencies: number[] = [];
  const started = performance.now();
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
  const seconds = (performance.now() - started) / 1000;
  const events = perStream * opts.streams;
  return {
    events,
    eventsPerSec: events / seconds,
    appendP50Ms: percentile(latencies, 50),
    appendP99Ms: percentile(latencies, 99),
  };
}

export interface ReadAllResult {
  readonly events: number;
  readonly eventsPerSec: number;
}

/** The whole log forwards through the client, every event decoded as any consumer would get it. */
export async function benchReadAll(client: EventStoreDBClient): Promise<ReadAllResult> {
  let events = 0;
  const started = performance.now();
  for await (const resolved of client.readAll({ fromPosition: START })) {
    if (resolved.event) events++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { events, eventsPerSec: events / seconds };
}

export interface RebuildResult {
  readonly events: number;
  readonly eventsPerSec: number;
  readonly saveSeconds: number;
}

/**
 * Every projection rebuilt from the log by the projections' own offline entry point
 * (`src/projections/rebuild.cli.ts`) in a process of its own, pointed at the running store; its
 * projection files go to `projectionsDataDir`. The figure is its own timing of the fold.
 */
export async function benchRebuild(
  runtime: Runtime,
  connectionString: string,
  projectionsDataDir: string,
  timeoutMs: number,
): Promise<RebuildResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EVENTSTORE_CONNECTION_STRING: connectionString,
    SUBLEDGER_DATA_DIR: projectionsDataDir,
    LOG_LEVEL: 'warn',
  };
  delete env.NODE_ENV;
  delete env.SUBLEDGER_EVENTSTORE_MEMORY;
  const child = startChild(runtime.args('projections/rebuild.cli'), env);
  const timer = setTimeout(() => void child.stop(0), timeoutMs);
  await child.exited;
  clearTimeout(timer);
  const output = child.output();
  const match = /(\d+) ledger events folded in ([\d.]+) s \((\d+) events\/s\); saved in ([\d.]+) s/.exec(
    output,
  );
  if (child.process.exitCode !== 0 || !match) {
    throw new Error(
      `the rebuild failed (exit ${child.process.exitCode}, signal ${child.process.signalCode}):\n${output}`,
    );
  }
  const events = Number(match[1]);
  return { events, eventsPerSec: events / Number(match[2]), saveSeconds: Number(match[4]) };
}
