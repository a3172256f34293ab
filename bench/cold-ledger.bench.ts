import {
  EventStoreDBClient,
  NO_STREAM,
  type AppendExpectedRevision,
  type EventData,
} from '@eventstore/db-client';
import { readFileSync } from 'node:fs';
import { mintApiKey } from '../src/auth/api-key-secret';
import { CommandProcessor } from '../src/event-store/command-processing';
import {
  forgetIndexedReversibleUsage,
  forgetIndexedUsageKeys,
  ledgerDecider,
  toSnapshot,
  usageKeysOf,
} from '../src/ledger/domain';
import { approximateBytes, LedgerLog } from './support/ledger-log';
import {
  memoryOf,
  sleep,
  startService,
  startStore,
  type Runtime,
  type ServiceProcess,
} from './support/processes';
import { call, findUsed } from './support/service-api';
import { fmt, median } from './support/stats';

export interface ColdLedgerResult {
  readonly events: number;
  /** The first GET …/balance of a freshly restarted service (its projections saved by the previous run). */
  readonly firstBalanceMs: number;
  readonly medianBalanceMs: number;
  /** The first `?asOf=now` balance after the restart: the projection's path, waiting for it to catch up. */
  readonly firstAsOfMs: number;
  /** The larger of: after projecting the whole log from nothing, and after the cold restart caught up. */
  readonly rssMiB: number;
  readonly rssFreshMiB: number;
  readonly rssRestartMiB: number;
  readonly firstWriteMs: number;
  readonly rssAfterWriteMiB: number;
  /** RSS of the embedded store, which the service runs as a child process (NaN if none was found). */
  readonly storeRssFreshMiB: number;
  readonly storeRssRestartMiB: number;
}

/**
 * The summary's keys for the cold figures of a ledger of `events` events. SPEC §6 judges them at
 * 1,000,000 events, so only that size uses the contract's keys `coldBalanceMs` and `rssMiB1M`; any other
 * size (100,000 in `--quick`) gets keys that name it, `coldBalanceMs100k` and `rssMiB100k`, so a figure
 * is never read as the million-event one.
 */
export function coldFigureKeys(events: number): { balance: string; rss: string } {
  if (events === 1_000_000) return { balance: 'coldBalanceMs', rss: 'rssMiB1M' };
  const size =
    events % 1_000_000 === 0
      ? `${events / 1_000_000}M`
      : events % 1_000 === 0
        ? `${events / 1_000}k`
        : String(events);
  return { balance: `coldBalanceMs${size}`, rss: `rssMiB${size}` };
}

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * The history is spread over this many days up to now, as a real ledger of that size would be: keys
 * older than 35 days are forgotten (rule 5), so the state holds about 35/120 of the keys.
 */
const HISTORY_DAYS = 120;
/** Under EventStoreDB's 1 MiB append limit, like the service's own batches. */
const MAX_APPEND_BYTES = 900 * 1024;

/**
 * One parent whose `ledger-` stream holds `events` events, written by the ledger's own decider straight
 * into the store, then the service started on it twice: once to project it all from nothing, once cold
 * (a new process over the saved projections) to time the first balance reads.
 */
export async function benchColdLedger(
  runtime: Runtime,
  dataDir: string,
  opts: { events: number; subAccounts: number; log: (line: string) => void },
): Promise<ColdLedgerResult> {
  const parentId = 'bench-cold';
  const key = mintApiKey(parentId);
  const log = new LedgerLog(parentId);
  const built = await buildLedger(runtime, dataDir, log, key, opts);
  opts.log(
    `  ledger: ${fmt(built.events)} events in one parent (${opts.subAccounts} sub-accounts, ${HISTORY_DAYS} days) written in ` +
      `${fmt(built.seconds, 1)} s; ${built.snapshot}`,
  );
  const subs = log.subAccountIds;
  const lastSub = subs[(built.usageRecords - 1) % subs.length];
  const caughtUp = async (service: ServiceProcess, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // With asOf the answer comes from the balance-as-of projection, which waits for the ledger's position.
      const asOf = encodeURIComponent(new Date().toISOString());
      const answer = await call(
        service.baseUrl,
        'GET',
        `${balancePath(parentId, lastSub)}?asOf=${asOf}`,
        key.secret,
      ).catch(() => undefined);
      if (answer?.status === 200 && findUsed(answer.body) === log.usedBy(lastSub)) return;
      if (Date.now() > deadline || !service.running()) {
        throw new Error(
          `the balance of ${lastSub} never showed all usage: ${answer?.status} ${JSON.stringify(answer?.body)?.slice(0, 300)}`,
        );
      }
      await sleep(100);
    }
  };

  // 1. From nothing: the service projects the whole log, then saves its projections on a clean stop.
  let rssFreshMiB: number;
  let storeRssFreshMiB: number;
  let fresh = await startService(runtime, { dataDir, readyTimeoutMs: 600_000 });
  try {
    const started = performance.now();
    await caughtUp(fresh, 900_000);
    const seconds = (performance.now() - started) / 1000;
    await sleep(1000);
    rssFreshMiB = memoryOf(fresh.pid).rssMiB;
    storeRssFreshMiB = storeRssOf(fresh.pid);
    opts.log(
      `  first start: ready in ${fmt(fresh.readyMs)} ms, balance ?asOf=now showed all usage ${fmt(seconds, 1)} s later ` +
        `(the ledger loaded and every projection caught up); rss ${fmt(rssFreshMiB)} MiB (peak ${fmt(memoryOf(fresh.pid).hwmMiB)}; ` +
        `${await heapOf(fresh.baseUrl)}); its store process ${fmt(storeRssFreshMiB)} MiB`,
    );
  } catch (error) {
    throw withOutput(error, fresh);
  } finally {
    await fresh.stop(120_000);
  }

  // 2. Cold: a new process on the same folder; the first balance is asked the moment /health answers.
  fresh = await startService(runtime, { dataDir, readyTimeoutMs: 600_000 });
  try {
    // A long wait is allowed: without a snapshot the ledger folds its whole stream, and that is the figure.
    const first = await call(
      fresh.baseUrl,
      'GET',
      balancePath(parentId, subs[0]),
      key.secret,
      undefined,
      900_000,
    );
    if (first.status !== 200) {
      throw new Error(
        `the first cold balance answered ${first.status}: ${JSON.stringify(first.body).slice(0, 300)}`,
      );
    }
    // How much of that the ledger's own load (core snapshot + tail) took, as the processor timed it.
    const firstLoadMs = (await metricOf(fresh.baseUrl, 'subledger_stream_load_duration_seconds_sum')) * 1000;
    const more: number[] = [];
    for (let i = 1; i <= Math.min(20, subs.length - 1); i++) {
      const answer = await call(fresh.baseUrl, 'GET', balancePath(parentId, subs[i]), key.secret);
      if (answer.status !== 200)
        throw new Error(`a balance answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      more.push(answer.ms);
    }
    const asOfStarted = performance.now();
    await caughtUp(fresh, 300_000);
    const firstAsOfMs = performance.now() - asOfStarted;
    await sleep(1000);
    const rssRestartMiB = memoryOf(fresh.pid).rssMiB;
    const heapRestart = await heapOf(fresh.baseUrl);
    const storeRssRestartMiB = storeRssOf(fresh.pid);
    const write = await call(
      fresh.baseUrl,
      'POST',
      `/v1/parents/${parentId}/sub-accounts/${subs[0]}/usage`,
      key.secret,
      {
        idempotencyKey: 'cold-write-1',
        credits: 1,
      },
    );
    if (write.status !== 201)
      throw new Error(
        `the first cold usage answered ${write.status}: ${JSON.stringify(write.body).slice(0, 300)}`,
      );
    // The write looked its key up in the key index: RSS stays without the ledger's live keys.
    await sleep(1000);
    const rssAfterWriteMiB = memoryOf(fresh.pid).rssMiB;
    const storeRssAfterWriteMiB = storeRssOf(fresh.pid);
    const heapAfterWrite = await heapOf(fresh.baseUrl);
    const result: ColdLedgerResult = {
      events: built.events,
      firstBalanceMs: first.ms,
      medianBalanceMs: median(more),
      firstAsOfMs,
      // The whole footprint: the service and the store process it runs, at the largest of the three
      // readings (after projecting everything, after a cold restart, once the keys were restored).
      rssMiB: Math.max(
        rssFreshMiB + storeRssFreshMiB,
        rssRestartMiB + storeRssRestartMiB,
        rssAfterWriteMiB + storeRssAfterWriteMiB,
      ),
      rssFreshMiB,
      rssRestartMiB,
      firstWriteMs: write.ms,
      rssAfterWriteMiB,
      storeRssFreshMiB,
      storeRssRestartMiB,
    };
    const figureKeys = coldFigureKeys(opts.events);
    opts.log(
      `${figureKeys.balance}: first ${fmt(result.firstBalanceMs, 1)} ms, median of the next ${more.length} ${fmt(result.medianBalanceMs, 1)} ms ` +
        `(the ledger's load in it ${fmt(firstLoadMs, 1)} ms; service ready ${fmt(fresh.readyMs)} ms after spawn; ${fmt(built.events)} events); ` +
        `first ?asOf=now (projection) ${fmt(firstAsOfMs, 1)} ms — target ≤ 50 ms`,
    );
    opts.log(
      `${figureKeys.rss}: ${fmt(result.rssMiB)} MiB, service + its store process at the largest reading (service ${fmt(rssFreshMiB)} after projecting everything, ` +
        `${fmt(rssRestartMiB)} after a cold restart [${heapRestart}], ${fmt(rssAfterWriteMiB)} once a first usage (${fmt(write.ms, 1)} ms) restored the ledger's keys ` +
        `[${heapAfterWrite}]; store ${fmt(storeRssFreshMiB)} / ${fmt(storeRssRestartMiB)} / ${fmt(storeRssAfterWriteMiB)} MiB) — target ≤ 512 MiB`,
    );
    return result;
  } catch (error) {
    throw withOutput(error, fresh);
  } finally {
    await fresh.stop(120_000);
  }
}

/** The first sample of a series in the service's /metrics (NaN if absent). */
async function metricOf(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
}

/** The service's V8 heap as its /metrics reports it (prom-client's default Node.js metrics). */
async function heapOf(baseUrl: string): Promise<string> {
  try {
    const values = await Promise.all(
      ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes'].map(
        (name) => metricOf(baseUrl, name),
      ),
    );
    const [used, total, external] = values.map((bytes) => bytes / 2 ** 20);
    return `heap used ${fmt(used)} of ${fmt(total)} MiB, ` + `external ${fmt(external)} MiB`;
  } catch (error) {
    return `heap unknown: ${String(error)}`;
  }
}

/** RSS of the service's child processes (its embedded store), summed; NaN when there is none. */
function storeRssOf(servicePid: number): number {
  try {
    const children = readFileSync(`/proc/${servicePid}/task/${servicePid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    if (children.length === 0) return NaN;
    return children.reduce((sum, pid) => sum + memoryOf(pid).rssMiB, 0);
  } catch {
    return NaN;
  }
}

function balancePath(parentId: string, subAccountId: string): string {
  return `/v1/parents/${parentId}/sub-accounts/${subAccountId}/balance`;
}

function withOutput(error: unknown, service: ServiceProcess): Error {
  return new Error(
    `${error instanceof Error ? error.message : String(error)}\nservice output:\n${service.output().slice(-4000)}`,
  );
}

async function buildLedger(
  runtime: Runtime,
  dataDir: string,
  log: LedgerLog,
  key: ReturnType<typeof mintApiKey>,
  opts: { events: number; subAccounts: number },
): Promise<{ events: number; usageRecords: number; seconds: number; snapshot: string }> {
  const store = await startStore(runtime, dataDir);
  const client = EventStoreDBClient.connectionString(store.connectionString);
  try {
    const started = performance.now();
    const end = Date.now() - 60_000;
    const begin = end - HISTORY_DAYS * DAY_MS;
    const opening = log.open(opts.subAccounts, 1_000_000_000, new Date(begin), {
      keyId: key.keyId,
      prefix: key.prefix,
      secretHash: key.secretHash,
    });
    let revision: AppendExpectedRevision = (
      await client.appendToStream(log.streamName, opening, { expectedRevision: NO_STREAM })
    ).nextExpectedRevision;
    const usageRecords = opts.events - opening.length;
    const perAppend = Math.max(1, Math.floor(MAX_APPEND_BYTES / approximateBytes(sampleEvent(log, begin))));
    let written = 0;
    let pending: Promise<void> = Promise.resolve();
    while (written < usageRecords) {
      const count = Math.min(perAppend, usageRecords - written);
      const now = new Date(begin + ((written + count) / usageRecords) * (end - begin));
      const batch: EventData[] = log.usage(count, now);
      written += count;
      // The next batch is decided while this one is on its way to the disk.
      await pending;
      pending = client
        .appendToStream(log.streamName, batch, { expectedRevision: revision })
        .then((result) => {
          revision = result.nextExpectedRevision;
        });
    }
    await pending;
    const seconds = (performance.now() - started) / 1000;
    let snapshot: string;
    try {
      const keys = usageKeysOf(log.state).length;
      // As the service leaves its state once the key index (PostgreSQL, filled by the first start's
      // projections) holds every key: the receipts are the index's, not the snapshot's.
      forgetIndexedUsageKeys(log.state, Number(revision));
      // Likewise the usage a reversal may still name: the reversible-usage index holds it (decision 64).
      forgetIndexedReversibleUsage(log.state, Number(revision));
      const bytes = JSON.stringify(toSnapshot(log.state)).length;
      // The processor's own snapshot code (in chunks if it is bigger than one event).
      const processor = new CommandProcessor({ client, decider: ledgerDecider });
      const started = performance.now();
      try {
        await processor.writeSnapshot(log.streamName, log.state, revision as bigint);
      } finally {
        await processor.close();
      }
      snapshot =
        `snapshot at the last revision written by the service's processor code (${fmt(bytes / 1024, 1)} KiB; ` +
        `${fmt(keys)} live keys left to the key index; ${fmt(performance.now() - started)} ms)`;
    } catch (error) {
      const reason = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
      snapshot = `NO SNAPSHOT (${reason.slice(0, 300)}): a load folds the whole stream`;
    }
    return { events: opening.length + usageRecords, usageRecords, seconds, snapshot };
  } finally {
    await client.dispose().catch(() => undefined);
    await store.stop(120_000);
  }
}

/** A usage event like the ones to write, decided on a throwaway ledger that is never appended. */
function sampleEvent(log: LedgerLog, at: number): EventData {
  const probe = new LedgerLog(`${log.parentId}-probe`);
  probe.open(1, 10, new Date(at));
  return probe.usage(1, new Date(at))[0];
}
