/**
 * Index rebuild time and memory for a log of N events (default 1,000,000):
 *
 *   npx ts-node --transpile-only bench/embedded-eventstore/index-rebuild.bench.ts [events]
 *
 * Writes the log through the engine (batches of 100 over 10,000 streams), then opens it cold
 * in a fresh engine and prints the scan time and the process's resident memory.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreEngine, EXPECTED_ANY } from '../../src/embedded-eventstore/engine/event-store.engine';

const TOTAL = Number(process.argv[2] ?? 1_000_000);

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'es-rebuild-'));
  try {
    const writer = new EventStoreEngine({ dataDir: dir });
    const data = Buffer.from(JSON.stringify({ subAccountId: 'sub-0001', credits: 125, meter: 'api-calls' }));
    for (let n = 0; n < TOTAL; n += 100) {
      const events = Array.from({ length: 100 }, () => ({
        id: randomUUID(),
        type: 'UsageRecorded',
        contentType: 'application/json',
        data,
        customMetadata: new Uint8Array(0),
      }));
      await writer.append(`subaccount-${(n / 100) % 10_000}`, EXPECTED_ANY, events);
    }
    await writer.close();
    const size = statSync(path.join(dir, 'events.log')).size;
    const rssBefore = process.memoryUsage().rss;
    const started = process.hrtime.bigint();
    const reader = new EventStoreEngine({ dataDir: dir });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    global.gc?.();
    console.log(
      `rebuild: ${reader.index.count} events, ${(size / 2 ** 20).toFixed(0)} MiB log, ${ms.toFixed(0)} ms; ` +
        `rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (was ${(rssBefore / 2 ** 20).toFixed(0)} MiB before opening)`,
    );
    await reader.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
