/**
 * CPU cost of the storage engine's append path alone, without gRPC or the client: what the store
 * itself spends per event, which the end-to-end figures hide behind the client's own cost.
 *
 *   node --expose-gc -r ts-node/register/transpile-only bench/embedded-eventstore/engine-append.bench.ts [batches]
 *
 * 16 writers, one ledger stream each, append `batches` batches of 100 `UsageRecorded` events made by
 * the ledger's decider (as bench/store.bench.ts appends them) with the exact expected revision, to an
 * engine on a temporary folder with fsync on. Three rounds; not a test, it asserts nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import type { EventData } from '@eventstore/db-client';
import { EventStoreEngine } from '../../src/embedded-eventstore/engine/event-store.engine';
import type { NewEvent } from '../../src/embedded-eventstore/storage/recorded-event.codec';
import { LedgerLog } from '../support/ledger-log';

const STREAMS = 16;
const BATCH = 100;

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

/** The event as the server receives it: JSON data and metadata as bytes. */
function toNewEvent(event: EventData): NewEvent {
  const metadata = event.metadata;
  return {
    id: event.id,
    type: event.type,
    contentType: event.contentType,
    data: Buffer.from(JSON.stringify(event.data)),
    customMetadata: metadata instanceof Uint8Array ? metadata : Buffer.from(JSON.stringify(metadata)),
  };
}

async function main(): Promise<void> {
  const batches = Number(process.argv[2] ?? 40);
  const dir = mkdtempSync(path.join(tmpdir(), 'engine-append-bench-'));
  const engine = new EventStoreEngine({ dataDir: dir });
  try {
    for (let round = 0; round < 3; round++) {
      const writers: { stream: string; batches: NewEvent[][]; revision: number }[] = [];
      for (let s = 0; s < STREAMS; s++) {
        const log = new LedgerLog(`engine-${round}-${s}-${randomUUID().slice(0, 8)}`);
        const opened = await engine.append(log.streamName, -1, log.open(16, 1e9).map(toNewEvent));
        if (opened.kind !== 'success') throw new Error(`opening ${log.streamName}: ${opened.kind}`);
        const prepared: NewEvent[][] = [];
        for (let n = 0; n < batches; n++) prepared.push(log.usage(BATCH).map(toNewEvent));
        writers.push({ stream: log.streamName, batches: prepared, revision: opened.revision });
      }
      (globalThis as { gc?: () => void }).gc?.();
      gcMs = 0;
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      await Promise.all(
        writers.map(async (writer) => {
          for (const batch of writer.batches) {
            const outcome = await engine.append(writer.stream, writer.revision, batch);
            if (outcome.kind !== 'success') throw new Error(`append: ${outcome.kind}`);
            writer.revision = outcome.revision;
          }
        }),
      );
      const events = STREAMS * batches * BATCH;
      const cpu = process.cpuUsage(cpu0);
      console.log(
        `round ${round}: ${Math.round(events / ((performance.now() - started) / 1000))} events/s, ` +
          `CPU ${((cpu.user + cpu.system) / events).toFixed(2)} µs/event, ` +
          `GC ${((gcMs * 1000) / events).toFixed(2)} µs/event`,
      );
    }
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
