/**
 * Projection figures of SPEC §6, each beside its reference in the same run:
 *
 *   node --expose-gc -r ts-node/register/transpile-only bench/projections.bench.ts [--events 1000000]
 *
 * 1. seeds a log of ledger events, decided by the ledger's own decider as the service would write them
 *    (mostly UsageRecorded, as a busy ledger is), into an embedded store running in its own process,
 *    with fsync on;
 * 2. reads all of `$all` through the client (the raw rate), folds it with every projection through
 *    the runner (the rebuild rate), and reads it raw once more, so a drift of the machine shows;
 * 3. prints the resident memory of this process with every projection holding the whole log, and the
 *    time to save the projections and to answer a history page and a balance.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventStoreDBClient, START, type EventData } from '@eventstore/db-client';
import { Database } from '../src/database/database';
import {
  BalanceAsOfService,
  PROJECTIONS,
  ProjectionRunner,
  SubAccountHistoryService,
} from '../src/projections';
import { spawnEmbeddedEventStore } from '../test/support/event-store';
import { LedgerLog, subAccountId } from './support/ledger-log';

const PARENTS = 100;
const SUBS_PER_PARENT = 10;
const QUOTA = 1_000_000_000;
const OPENED_AT_MS = Date.parse('2026-10-01T00:00:00Z');
/** What opening a parent writes: ParentAccountOpened, its key, the purchase, each sub-account and quota. */
const OPENING_EVENTS = new LedgerLog('count').open(SUBS_PER_PARENT, QUOTA, new Date(OPENED_AT_MS)).length;
const EVENTS_PER_APPEND = 1_000;
const APPENDS_IN_FLIGHT = 4;
const MIB = 1024 * 1024;

function parseEvents(argv: string[]): number {
  const at = argv.indexOf('--events');
  const events = at >= 0 ? Number(argv[at + 1]) : 1_000_000;
  if (!Number.isSafeInteger(events) || events < 10_000) throw new Error('--events takes an integer ≥ 10000');
  return events;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * One parent's stream as the service writes it: the ledger's own decider (through `LedgerLog`) opens
 * the parent with its key, buys the pool and creates the sub-accounts with their quotas, then records
 * usage round-robin over them, one record a minute after the opening. So balances after, fingerprints,
 * periods and metadata are the service's, and `recordedAt` moves with each record.
 */
function* parentEvents(parentId: string, usageCount: number): Generator<EventData> {
  const log = new LedgerLog(parentId);
  yield* log.open(SUBS_PER_PARENT, QUOTA, new Date(OPENED_AT_MS));
  for (let n = 1; n <= usageCount; n++) yield* log.usage(1, new Date(OPENED_AT_MS + n * 60_000));
}

/** Generates each parent's events batch by batch while appending, so seeding holds no log in memory. */
async function seed(client: EventStoreDBClient, total: number, runId: string): Promise<number> {
  const usagePerParent = Math.ceil(total / PARENTS) - OPENING_EVENTS;
  let nextParent = 0;
  let appended = 0;
  // Appends of one stream stay in order: each worker takes whole parents.
  await Promise.all(
    Array.from({ length: APPENDS_IN_FLIGHT }, async () => {
      while (nextParent < PARENTS) {
        const p = nextParent++;
        let batch: EventData[] = [];
        for (const event of parentEvents(`${runId}-${p}`, usagePerParent)) {
          batch.push(event);
          if (batch.length === EVENTS_PER_APPEND) {
            await client.appendToStream(`ledger-${runId}-${p}`, batch);
            appended += batch.length;
            batch = [];
          }
        }
        if (batch.length > 0) {
          await client.appendToStream(`ledger-${runId}-${p}`, batch);
          appended += batch.length;
        }
      }
    }),
  );
  return appended;
}

/** The same rebuild, caught up through the subscription itself rather than by reading. */
async function subscriptionRebuildRate(client: EventStoreDBClient, database: Database): Promise<number> {
  const bare = new ProjectionRunner({
    client,
    projections: PROJECTIONS,
    database,
    fresh: true,
    catchUpByReading: false,
  });
  const startedAt = performance.now();
  await bare.start();
  await bare.whenCaughtUp(3_600_000);
  const perSec = bare.eventsDelivered / ((performance.now() - startedAt) / 1000);
  await bare.stop({ commit: false });
  return perSec;
}

async function readAllRate(client: EventStoreDBClient): Promise<{ events: number; perSec: number }> {
  const startedAt = performance.now();
  let events = 0;
  for await (const resolved of client.readAll({ fromPosition: START })) {
    if (resolved.event) events++;
  }
  return { events, perSec: events / ((performance.now() - startedAt) / 1000) };
}

/**
 * In a process of its own, as in the service: a fresh runner folds the whole log, then reports its
 * resident memory. The parent's RSS would also count the seeding and the raw reads.
 */
async function measureRss(connectionString: string): Promise<void> {
  const client = EventStoreDBClient.connectionString(connectionString);
  const database = await Database.open({ kind: 'embedded', dataDir: undefined });
  gc();
  const before = process.memoryUsage().rss;
  const runner = new ProjectionRunner({ client, projections: PROJECTIONS, database, fresh: true });
  await runner.start();
  await runner.whenCaughtUp(3_600_000);
  gc();
  const memory = process.memoryUsage();
  console.log(
    `RSS_RESULT ${JSON.stringify({
      events: runner.eventsDelivered,
      rssBeforeMiB: Math.round(before / MIB),
      rssMiB: Math.round(memory.rss / MIB),
      heapUsedMiB: Math.round(memory.heapUsed / MIB),
      arrayBuffersMiB: Math.round(memory.arrayBuffers / MIB),
    })}`,
  );
  await runner.stop({ commit: false });
  await database.close();
  await client.dispose();
}

function rssInChild(connectionString: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', __filename, '--measure-rss', connectionString],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('exit', (code) => {
      const line = /RSS_RESULT (.*)/.exec(output);
      if (code === 0 && line) resolve(line[1]);
      else reject(new Error(`the RSS child failed (exit ${code}):\n${output}`));
    });
  });
}

async function main(): Promise<void> {
  const measureAt = process.argv.indexOf('--measure-rss');
  if (measureAt >= 0) return measureRss(process.argv[measureAt + 1]);
  const total = parseEvents(process.argv.slice(2));
  const dataDir = mkdtempSync(path.join(tmpdir(), 'subledger-projections-bench-'));
  // As root the embedded PostgreSQL runs as the postgres user, which must be able to enter it.
  chmodSync(dataDir, 0o755);
  const store = await spawnEmbeddedEventStore({ dataDir: path.join(dataDir, 'store') });
  const client = EventStoreDBClient.connectionString(store.connectionString);
  const database = await Database.open({ kind: 'embedded', dataDir: path.join(dataDir, 'postgres') });
  const runId = randomUUID().slice(0, 8);
  try {
    const seedStart = performance.now();
    const seeded = await seed(client, total, runId);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    console.log(
      `seeded ${seeded} events in ${seedSeconds.toFixed(1)} s (${Math.round(seeded / seedSeconds)} events/s)`,
    );

    const rawBefore = await readAllRate(client);
    console.log(
      `readAll (raw, before): ${rawBefore.events} events, ${Math.round(rawBefore.perSec)} events/s`,
    );

    const bySubscription = await subscriptionRebuildRate(client, database);
    console.log(`rebuild caught up through the subscription: ${Math.round(bySubscription)} events/s`);

    gc();
    const rssBefore = process.memoryUsage().rss;
    const runner = new ProjectionRunner({ client, projections: PROJECTIONS, database, fresh: true });
    const rebuildStart = performance.now();
    await runner.start();
    await runner.whenCaughtUp(3_600_000);
    const rebuildSeconds = (performance.now() - rebuildStart) / 1000;
    const rebuildPerSec = runner.eventsDelivered / rebuildSeconds;
    console.log(
      `rebuild (every projection, into PostgreSQL): ${runner.eventsDelivered} events, ${Math.round(rebuildPerSec)} events/s`,
    );

    const rawAfter = await readAllRate(client);
    console.log(`readAll (raw, after): ${rawAfter.events} events, ${Math.round(rawAfter.perSec)} events/s`);
    const rawMean = (rawBefore.perSec + rawAfter.perSec) / 2;
    console.log(`rebuild / readAll: ${((rebuildPerSec / rawMean) * 100).toFixed(1)} % (target ≥ 90 %)`);

    gc();
    const memory = process.memoryUsage();
    console.log(
      `RSS with ${runner.eventsDelivered} events projected: ${Math.round(memory.rss / MIB)} MiB ` +
        `(before the runner: ${Math.round(rssBefore / MIB)} MiB; heap used ${Math.round(memory.heapUsed / MIB)} MiB, ` +
        `array buffers ${Math.round(memory.arrayBuffers / MIB)} MiB; target ≤ 512 MiB for the whole service)`,
    );

    const commitStart = performance.now();
    await runner.stop({ commit: true });
    console.log(`committing the rebuild: ${((performance.now() - commitStart) / 1000).toFixed(2)} s`);
    const restarted = new ProjectionRunner({ client, projections: PROJECTIONS, database });
    const loadStart = performance.now();
    await restarted.start();
    await restarted.whenCaughtUp(3_600_000);
    console.log(
      `restart from the checkpoints to caught up: ${((performance.now() - loadStart) / 1000).toFixed(2)} s`,
    );
    const history = new SubAccountHistoryService(restarted, database, { readTimeoutMs: 1_000 });
    const balances = new BalanceAsOfService(restarted, database, { readTimeoutMs: 1_000 });
    const parentId = `${runId}-7`;
    const pageStart = performance.now();
    const page = await history.history(parentId, subAccountId(3), {
      from: new Date('2026-10-01T00:05:00Z'),
      limit: 100,
    });
    const pageMs = performance.now() - pageStart;
    const balanceStart = performance.now();
    await balances.balanceAsOf(parentId, subAccountId(3), new Date('2026-10-01T00:10:00Z'));
    const balanceMs = performance.now() - balanceStart;
    console.log(
      `history page of ${page?.entries.length} entries (read back from the store): ${pageMs.toFixed(1)} ms; ` +
        `balance as of: ${balanceMs.toFixed(2)} ms`,
    );

    const childRss = JSON.parse(await rssInChild(store.connectionString)) as {
      rssMiB: number;
      rssBeforeMiB: number;
    };
    console.log(
      `RSS of a process that only projects the log (ts-node, so the TypeScript compiler is in it too): ` +
        `${childRss.rssMiB} MiB, ${childRss.rssBeforeMiB} MiB before the runner started`,
    );

    await restarted.stop({ commit: false });

    console.log(
      JSON.stringify({
        events: runner.eventsDelivered,
        readAllEventsPerSec: Math.round(rawMean),
        rebuildEventsPerSec: Math.round(rebuildPerSec),
        rebuildShareOfReadAll: Number((rebuildPerSec / rawMean).toFixed(3)),
        subscriptionRebuildEventsPerSec: Math.round(bySubscription),
        rssMiB: childRss.rssMiB,
        historyPageMs: Number(pageMs.toFixed(1)),
      }),
    );
  } finally {
    await database.close();
    await client.dispose();
    await store.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
