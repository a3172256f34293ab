/**
 * Throughput of the embedded server through the real client, server in its own process.
 *
 *   npx ts-node --transpile-only bench/embedded-eventstore/throughput.bench.ts [events] [concurrency]
 *
 * Not a test: it prints figures and asserts nothing. The server runs with fsync on, on a
 * fresh temporary folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { spawnEmbeddedEventStore } from '../../test/support/event-store';
import { processCpuSeconds } from '../support/processes';

const TOTAL = Number(process.argv[2] ?? 200_000);
const CONCURRENCY = Number(process.argv[3] ?? 8);
const BATCH = 100;

/** CPU seconds used so far by the server (Linux /proc), to show which side is the bottleneck. */
function cpuSeconds(pid: number | undefined): number {
  return pid === undefined ? NaN : processCpuSeconds(pid);
}

function clientCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'es-bench-'));
  // BENCH_CONNECTION measures an already running server (e.g. one started under --cpu-prof).
  const external = process.env.BENCH_CONNECTION;
  const server = external ? undefined : await spawnEmbeddedEventStore({ dataDir });
  const connection = external ?? server!.connectionString;
  const client = EventStoreDBClient.connectionString(connection);
  const payload = { accountId: 'acc-0001', credits: 125, meter: 'api-calls', note: 'x'.repeat(60) };
  try {
    await client.appendToStream('warmup', jsonEvent({ type: 'Warmup', data: {} }));
    let next = 0;
    const serverPid = server?.child.pid;
    let s0 = cpuSeconds(serverPid);
    let c0 = clientCpu();
    const started = process.hrtime.bigint();
    const worker = async (w: number) => {
      while (next < TOTAL) {
        const n = Math.min(BATCH, TOTAL - next);
        next += n;
        const events = Array.from({ length: n }, () => jsonEvent({ type: 'UsageRecorded', data: payload }));
        await client.appendToStream(`bench-${w}-${next % 50}`, events);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    const appendSecs = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(
      `append: ${TOTAL} events in batches of ${BATCH}, ${CONCURRENCY} in flight, fsync on: ` +
        `${Math.round(TOTAL / appendSecs)} events/s ` +
        `(CPU µs/event: server ${(((cpuSeconds(serverPid) - s0) * 1e6) / TOTAL).toFixed(1)}, ` +
        `client ${(((clientCpu() - c0) * 1e6) / TOTAL).toFixed(1)})`,
    );
    s0 = cpuSeconds(serverPid);
    c0 = clientCpu();

    const readStarted = process.hrtime.bigint();
    let read = 0;
    for await (const _ of client.readAll({ maxCount: TOTAL + 1 })) read++;
    const readSecs = Number(process.hrtime.bigint() - readStarted) / 1e9;
    console.log(
      `readAll: ${read} events: ${Math.round(read / readSecs)} events/s ` +
        `(CPU µs/event: server ${(((cpuSeconds(serverPid) - s0) * 1e6) / read).toFixed(1)}, ` +
        `client ${(((clientCpu() - c0) * 1e6) / read).toFixed(1)})`,
    );
  } finally {
    await client.dispose();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
