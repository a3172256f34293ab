import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { EventStoreDBClient, START } from '@eventstore/db-client';
import type { AppendWorkerInput, AppendWorkerMessage } from './support/append-worker';
import { processCpuSeconds, startChild, type Runtime } from './support/processes';
import { percentile } from './support/stats';

/**
 * CPU time of the bench's own process (the client) and of the store process over a timed window, per
 * event: with two cores shared by both, which side is saturated says where the time goes.
 */
export interface CpuPerEvent {
  readonly clientUs: number;
  readonly storeUs: number;
}

function cpuMeter(storePid: number | undefined): () => (events: number) => CpuPerEvent {
  return () => {
    const client0 = process.cpuUsage();
    const store0 = storePid === undefined ? NaN : processCpuSeconds(storePid);
    return (events) => {
      const client = process.cpuUsage(client0);
      const store = storePid === undefined ? NaN : processCpuSeconds(storePid) - store0;
      return { clientUs: (client.user + client.system) / events, storeUs: (store * 1e6) / events };
    };
  };
}

export interface AppendResult {
  readonly events: number;
  /** Client instances (worker threads, one connection each) the streams were spread over. */
  readonly clients: number;
  readonly eventsPerSec: number;
  readonly appendP50Ms: number;
  readonly appendP99Ms: number;
  readonly cpu: CpuPerEvent;
}

/**
 * Batches of 100 ledger events, `streams` appends in flight (one writer per parent stream, each with
 * the exact expected revision, as the service appends), spread over `clients` client instances, each in
 * a worker thread of its own with its own connection. The events are decided before the clock starts,
 * so only the client's serialisation, the wire and the store's durable append are timed.
 *
 * Why worker threads: the pinned client costs 60–80 µs of CPU per ledger event to append (most of it
 * google-protobuf base64-decoding, twice, the data it base64-encoded), about three times what the store
 * spends, so one client thread saturates its core while the store's core idles. Several writers in
 * several threads is what several service instances writing to one store look like; the streams in
 * flight stay 16 whatever the number of clients.
 */
export async function benchAppend(
  connectionString: string,
  opts: {
    events: number;
    streams: number;
    batch: number;
    clients: number;
    storePid?: number;
    /** Patch the client's base64 handling as the service does (default true). */
    serviceEncoding?: boolean;
  },
): Promise<AppendResult> {
  const batchesPerStream = Math.ceil(opts.events / opts.streams / opts.batch);
  const runId = randomUUID().slice(0, 8);
  const clients = Math.max(1, Math.min(opts.clients, opts.streams));
  const workers: Worker[] = [];
  const channels: ReturnType<typeof workerMessages>[] = [];
  try {
    for (let c = 0; c < clients; c++) {
      const streamNames: string[] = [];
      for (let s = c; s < opts.streams; s += clients) streamNames.push(`bench-${runId}-${s}`);
      const input: AppendWorkerInput = {
        connectionString,
        serviceEncoding: opts.serviceEncoding ?? true,
        streamNames,
        batchesPerStream,
        batch: opts.batch,
      };
      const worker = startWorker(input);
      workers.push(worker);
      const messages = workerMessages(worker);
      channels.push(messages);
    }
    await Promise.all(channels.map((messages) => messages.next('ready')));
    // Waiting for 'done' only from here: a worker that failed earlier has already failed the run
    // above, and no promise is left rejected with nobody listening.
    const done = channels.map((messages) =>
      messages.next('done').then((m) => (m.kind === 'done' ? m.latencies : [])),
    );
    const cpu = cpuMeter(opts.storePid)();
    const started = performance.now();
    for (const worker of workers) worker.postMessage('go');
    const latencies = (await Promise.all(done)).flat();
    const seconds = (performance.now() - started) / 1000;
    const events = batchesPerStream * opts.batch * opts.streams;
    return {
      events,
      clients,
      eventsPerSec: events / seconds,
      appendP50Ms: percentile(latencies, 50),
      appendP99Ms: percentile(latencies, 99),
      cpu: cpu(events),
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/** The append worker in a thread; under ts-node (as `npm run bench` runs) the thread registers it too. */
function startWorker(input: AppendWorkerInput): Worker {
  const extension = path.extname(__filename);
  const file = path.join(__dirname, 'support', `append-worker${extension}`);
  const source =
    extension === '.ts'
      ? `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(file)});`
      : `require(${JSON.stringify(file)});`;
  return new Worker(source, { eval: true, workerData: input });
}

/** Waits for the worker's next message of a kind; a failure, error or early exit rejects. */
function workerMessages(worker: Worker): { next(kind: 'ready' | 'done'): Promise<AppendWorkerMessage> } {
  const queue: AppendWorkerMessage[] = [];
  let waiting: { kind: string; resolve(m: AppendWorkerMessage): void; reject(e: Error): void } | null = null;
  let failure: Error | null = null;
  const settle = () => {
    if (!waiting) return;
    if (failure) return waiting.reject(failure);
    const at = queue.findIndex((m) => m.kind === waiting!.kind);
    if (at >= 0) {
      const [message] = queue.splice(at, 1);
      waiting.resolve(message);
      waiting = null;
    }
  };
  const fail = (error: Error) => {
    failure ??= error;
    settle();
  };
  worker.on('message', (message: AppendWorkerMessage) => {
    if (message.kind === 'failed') fail(new Error(`an append client failed: ${message.error}`));
    else queue.push(message);
    settle();
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`an append client exited early (code ${code})`)));
  return {
    next: (kind) =>
      new Promise<AppendWorkerMessage>((resolve, reject) => {
        waiting = { kind, resolve, reject };
        settle();
      }),
  };
}

export interface ReadAllResult {
  readonly events: number;
  readonly eventsPerSec: number;
  readonly cpu: CpuPerEvent;
}

/** The whole log forwards through the client, every event decoded as any consumer would get it. */
export async function benchReadAll(client: EventStoreDBClient, storePid?: number): Promise<ReadAllResult> {
  let events = 0;
  const cpu = cpuMeter(storePid)();
  const started = performance.now();
  for await (const resolved of client.readAll({ fromPosition: START })) {
    if (resolved.event) events++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { events, eventsPerSec: events / seconds, cpu: cpu(events) };
}

export interface RebuildResult {
  readonly events: number;
  readonly eventsPerSec: number;
  readonly saveSeconds: number;
}

/**
 * Every projection rebuilt from the log by the projections' own offline entry point
 * (`src/projections/rebuild.cli.ts`) in a process of its own, pointed at the running store; its
 * tables go to the embedded PostgreSQL it starts under `projectionsDataDir` (started before the timing
 * begins). The figure is its own timing of reading the log and writing every batch.
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
  const match =
    /(\d+) events read and written in ([\d.]+) s \((\d+) events\/s\); committed in ([\d.]+) s/.exec(output);
  if (child.process.exitCode !== 0 || !match) {
    throw new Error(
      `the rebuild failed (exit ${child.process.exitCode}, signal ${child.process.signalCode}):\n${output}`,
    );
  }
  const events = Number(match[1]);
  return { events, eventsPerSec: events / Number(match[2]), saveSeconds: Number(match[4]) };
}
