import {
  EventStoreDBClient,
  NO_STREAM,
  START,
  type AppendExpectedRevision,
  type EventData,
} from '@eventstore/db-client';
import { randomBytes, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { mintApiKey } from '../src/auth/api-key-secret';
import { CommandProcessor } from '../src/event-store/command-processing';
import { ledgerDecider } from '../src/ledger/domain';
import { benchReadAll, benchRebuild } from './store.bench';
import { approximateBytes, LedgerLog } from './support/ledger-log';
import {
  memoryOf,
  sleep,
  startService,
  startStore,
  type Runtime,
  type ServiceProcess,
} from './support/processes';
import { readProbe, type ProbeRequest } from './support/read-probe';
import { call, expectCall } from './support/service-api';
import { fmt, percentile } from './support/stats';

/**
 * The scale figures of SPEC §6 (`npm run bench -- --scale`; issue #13): a store of 5,000,000 events
 * (`--quick`: 1,000,000) over 1,000 parents, one of which has 100,000 sub-accounts, written straight
 * into the store by the ledger's own decider (bench/support/ledger-log.ts), then projected by the
 * service, which is then measured over HTTP: its own RSS, its cold restart, the p99 of three reads,
 * the big parent end to end, and a rebuild into PostgreSQL against `readAll` of the same log.
 */
export interface ScaleResult {
  readonly events: number;
  readonly rssMiB1M: number;
  readonly rssMiB5M: number;
  readonly restartReadyMs: number;
  readonly balanceAsOfP99Ms: number;
  readonly historyP99Ms: number;
  readonly analyticsP99Ms: number;
  readonly bigParent: {
    readonly subAccounts: number;
    readonly closeMs: number;
    readonly invoiceBytes: number;
    readonly replayMatches: boolean | null;
  };
  readonly rebuildRatioToReadAll: number;
  /** Context for the figures: each reading behind them. */
  readonly details: Record<string, unknown>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Appends as the service makes them: at most 1,000 events and ~900 KiB (the store's limit is 1 MiB). */
const MAX_APPEND_EVENTS = 1_000;
const MAX_APPEND_BYTES = 900 * 1024;
/** Appends in flight at once while seeding (each to a different stream). */
const APPENDS_IN_FLIGHT = 8;
const PARENTS = 1_000;
const SMALL_SUBS = 10;
/**
 * BENCH_SCALE_BIG_SUBS and BENCH_SCALE_EVENTS shrink a run to try the bench itself out quickly
 * (`BENCH_SCALE_EVENTS=100000,200000`: two sizes, as the full run's 1M and 5M); the figures of SPEC §6
 * are taken with neither set.
 */
const BIG_SUBS = Number(process.env.BENCH_SCALE_BIG_SUBS ?? 100_000);
/** Of the big parent's sub-accounts, a fifth are billed to the parent (one consolidated invoice). */
const BIG_TO_PARENT = BIG_SUBS / 5;
const BIG_PARENT = 'scale-big';
/** The small parents the mixed load writes to over HTTP; the seeder never appends to them again. */
const LOAD_PARENTS = 9;
/** The small parents the reads are measured on (their API keys are minted; the others get a dummy). */
const READ_PARENTS = 20;
const MIXED_LOAD_SECONDS = 60;
const MIXED_LOAD_CONCURRENCY = 4;

const smallParentId = (n: number) => `scale-p${String(n).padStart(4, '0')}`;
const bigSubId = (n: number) => `b${String(n).padStart(6, '0')}`;

interface Parent {
  readonly log: LedgerLog;
  readonly secret?: string;
}

/** Appends of several streams in flight at once, each stream's in order with its exact expected revision. */
class StoreWriter {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  events = 0;
  appends = 0;

  constructor(
    private readonly client: EventStoreDBClient,
    /** Each stream's revision, kept by the seeder across stages (a stage's writer is a new one). */
    private readonly revisions: Map<string, AppendExpectedRevision>,
  ) {}

  revisionOf(stream: string): bigint {
    return this.revisions.get(stream) as bigint;
  }

  /** Queues one append; waits while APPENDS_IN_FLIGHT are on their way, so memory stays bounded. */
  async write(stream: string, events: EventData[]): Promise<void> {
    if (this.failure) throw this.failure;
    const previous = this.chains.get(stream) ?? Promise.resolve();
    const append = previous.then(async () => {
      const result = await this.client.appendToStream(stream, events, {
        expectedRevision: this.revisions.get(stream) ?? NO_STREAM,
      });
      this.revisions.set(stream, result.nextExpectedRevision);
      this.events += events.length;
      this.appends++;
    });
    const tracked = append.catch((error: unknown) => {
      this.failure ??= error;
    });
    this.chains.set(stream, tracked);
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));
    while (this.inFlight.size >= APPENDS_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /** Splits a stream's events into appends within the limits. */
  async writeAll(stream: string, events: EventData[]): Promise<void> {
    let batch: EventData[] = [];
    let bytes = 0;
    for (const event of events) {
      const size = approximateBytes(event);
      if (batch.length > 0 && (batch.length >= MAX_APPEND_EVENTS || bytes + size > MAX_APPEND_BYTES)) {
        await this.write(stream, batch);
        batch = [];
        bytes = 0;
      }
      batch.push(event);
      bytes += size;
    }
    if (batch.length > 0) await this.write(stream, batch);
  }

  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }
}

/** The 1,000 parents and what has been written of them; kept across the two stages of a full run. */
class ScaleSeeder {
  readonly small: Parent[] = [];
  big!: Parent;
  events = 0;
  /** Each stream's revision as the seeder last appended it: the next stage's appends expect it. */
  readonly revisions = new Map<string, AppendExpectedRevision>();
  /** The small parents' usage is spread over this window, oldest first. */
  readonly historyBegin: number;
  readonly historyEnd: number;
  /** The big parent lives in the current month, the period its close is measured on. */
  readonly monthStart: number;

  constructor(historyDays: number) {
    const now = Date.now();
    this.historyEnd = now - 10 * 60_000;
    this.historyBegin = this.historyEnd - historyDays * DAY_MS;
    const today = new Date(now);
    this.monthStart = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1);
  }

  /** Opens every parent (the big one with its 100,000 sub-accounts and one usage record each). */
  async open(writer: StoreWriter): Promise<void> {
    for (let n = 0; n < PARENTS - 1; n++) {
      const parentId = smallParentId(n);
      const key = n < READ_PARENTS || n >= PARENTS - 1 - LOAD_PARENTS ? mintApiKey(parentId) : undefined;
      const log = new LedgerLog(parentId);
      const events = log.open(
        SMALL_SUBS,
        1_000_000,
        new Date(this.historyBegin),
        key && { keyId: key.keyId, prefix: key.prefix, secretHash: key.secretHash },
      );
      this.small.push({ log, secret: key?.secret });
      await writer.writeAll(log.streamName, events);
    }
    // The big parent: its sub-accounts created and each used once within this month, decided one
    // command at a time by the ledger's decider and appended in chunks as they are made.
    const key = mintApiKey(BIG_PARENT);
    const log = new LedgerLog(BIG_PARENT);
    this.big = { log, secret: key.secret };
    const from = Math.min(this.monthStart + 60_000, Date.now() - 120_000);
    const to = Math.max(from, Date.now() - 60_000);
    const at = (i: number) => new Date(from + Math.floor(((to - from) * i) / (2 * BIG_SUBS)));
    let pending: EventData[] = log.decide(
      {
        type: 'OpenParentAccount',
        data: {
          parentId: BIG_PARENT,
          name: 'Bench big parent',
          currency: 'EUR',
          creditPrice: '0.001',
          parentKey: { keyId: key.keyId, prefix: key.prefix, secretHash: key.secretHash },
        },
        metadata: { now: at(0) },
      },
      'operator',
    );
    pending.push(
      ...log.decide(
        { type: 'PurchaseCredits', data: { credits: BIG_SUBS * 2_000 }, metadata: { now: at(0) } },
        'operator',
      ),
    );
    const flush = async (force: boolean) => {
      if (pending.length >= MAX_APPEND_EVENTS * 4 || force) {
        await writer.writeAll(log.streamName, pending);
        pending = [];
      }
    };
    for (let i = 0; i < BIG_SUBS; i++) {
      pending.push(
        ...log.decide(
          {
            type: 'CreateSubAccount',
            data: {
              subAccountId: bigSubId(i),
              name: `Client ${i}`,
              billingModel: i < BIG_TO_PARENT ? 'bill-to-parent' : 'bill-to-sub-account',
              quota: 1_000,
            },
            metadata: { now: at(i) },
          },
          'parent',
        ),
      );
      await flush(false);
    }
    for (let i = 0; i < BIG_SUBS; i++) {
      pending.push(
        ...log.decide(
          {
            type: 'RecordUsage',
            data: {
              subAccountId: bigSubId(i),
              usageId: randomUUID(),
              idempotencyKey: `seed-${i}`,
              credits: 1 + (i % 97),
              meter: i % 2 === 0 ? 'api-calls' : 'images',
            },
            metadata: { now: at(BIG_SUBS + i) },
          },
          'parent',
        ),
      );
      await flush(false);
    }
    await flush(true);
    await writer.drain();
    this.events = writer.events;
  }

  /**
   * Usage records of 1 credit over the small parents until the store holds `target` events, in rounds
   * (each round one append per parent, at most 1,000 events and ~900 KiB) whose instants move through
   * [from, to] of the history window, so every stream's events are in time order.
   */
  async usageUntil(
    writer: StoreWriter,
    target: number,
    parents: Parent[],
    window: { from: number; to: number },
    progress: (line: string) => void,
  ): Promise<void> {
    const usage = target - writer.events;
    if (usage <= 0) return;
    const sample = approximateBytes(sampleUsage());
    const perAppend = Math.max(1, Math.min(MAX_APPEND_EVENTS, Math.floor(MAX_APPEND_BYTES / sample)));
    const rounds = Math.max(1, Math.ceil(usage / parents.length / perAppend) * 2);
    let reported = Date.now();
    for (let r = 0; r < rounds; r++) {
      const inRound = Math.floor((usage * (r + 1)) / rounds) - Math.floor((usage * r) / rounds);
      const at = new Date(window.from + ((window.to - window.from) * (r + 1)) / rounds);
      for (let p = 0; p < parents.length; p++) {
        const count =
          Math.floor((inRound * (p + 1)) / parents.length) - Math.floor((inRound * p) / parents.length);
        if (count === 0) continue;
        const log = parents[p].log;
        await writer.write(log.streamName, log.usage(count, at));
      }
      if (Date.now() - reported > 15_000) {
        reported = Date.now();
        progress(`  seeded ${fmt(writer.events)} of ${fmt(target)} events`);
      }
    }
    await writer.drain();
    this.events = writer.events;
  }

  /** The big parent's snapshot, written by the service's own processor code (as the cold bench does). */
  async snapshotBig(client: EventStoreDBClient, writer: StoreWriter): Promise<string> {
    const processor = new CommandProcessor({ client, decider: ledgerDecider });
    const started = performance.now();
    try {
      await processor.writeSnapshot(
        this.big.log.streamName,
        this.big.log.state,
        writer.revisionOf(this.big.log.streamName),
      );
      return `big parent snapshot written in ${fmt(performance.now() - started)} ms`;
    } catch (error) {
      return `NO big parent snapshot (${String(error).slice(0, 200)}): its first load folds its stream`;
    } finally {
      await processor.close();
    }
  }
}

function sampleUsage(): EventData {
  const probe = new LedgerLog('scale-probe');
  probe.open(1, 10);
  return probe.usage(1)[0];
}

/** One stage of seeding on the store alone, then stopped so the service can own the folder. */
async function withStore<T>(
  runtime: Runtime,
  dataDir: string,
  body: (
    client: EventStoreDBClient,
    store: { pid: number; connectionString: string; openMs: number },
  ) => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const store = await startStore(runtime, dataDir);
  // Spawn to its ready line: the store's own share of a restart (it opens the folder's log and index).
  const openMs = performance.now() - started;
  const client = EventStoreDBClient.connectionString(store.connectionString);
  try {
    return await body(client, { pid: store.pid, connectionString: store.connectionString, openMs });
  } finally {
    await client.dispose().catch(() => undefined);
    await store.stop(120_000);
  }
}

interface SizeFigures {
  readonly events: number;
  readonly projectSeconds: number;
  readonly restartReadyMs: number;
  readonly rssRestartMiB: number;
  readonly rssAfterLoadMiB: number;
  readonly rssPeakMiB: number;
  /** V8 heap used after the load, from the service's /metrics: how much of the RSS is live JS objects. */
  readonly heapAfterLoadMiB: number;
  readonly load: { requests: number; errors: number; perSecond: number; firstError: string | null };
}

/**
 * The service on the seeded store: a first start projects everything (its /health is 503 until the
 * projections caught up), then a cold restart is timed to /health 200, its RSS read, 60 s of mixed
 * load run and its RSS read again. `then` runs on the restarted service before it stops.
 */
async function measureSize(
  runtime: Runtime,
  dataDir: string,
  seeder: ScaleSeeder,
  operatorToken: string,
  log: (line: string) => void,
  progress: (line: string) => void,
  then?: (service: ServiceProcess) => Promise<void>,
): Promise<SizeFigures> {
  progress(`first start: the service projects ${fmt(seeder.events)} events`);
  const first = await startService(runtime, { dataDir, operatorToken, readyTimeoutMs: 1_800_000 });
  const projectSeconds = first.readyMs / 1000;
  await first.stop(120_000);
  progress('cold restart on the projected store');
  const service = await startService(runtime, { dataDir, operatorToken, readyTimeoutMs: 600_000 });
  try {
    await sleep(2_000);
    const rssRestartMiB = memoryOf(service.pid).rssMiB;
    progress(`${MIXED_LOAD_SECONDS} s of mixed load`);
    const load = await mixedLoad(service, seeder, MIXED_LOAD_SECONDS);
    const rssAfterLoadMiB = memoryOf(service.pid).rssMiB;
    const rssPeakMiB = memoryOf(service.pid).hwmMiB;
    const heap = await heapMiB(service);
    const heapAfterLoadMiB = heap.used;
    const memory = memoryOf(service.pid);
    log(
      `  at ${fmt(seeder.events)} events: first start projected everything and was ready in ${fmt(projectSeconds, 1)} s; ` +
        `cold restart ready in ${fmt(service.readyMs)} ms; service RSS ${fmt(rssRestartMiB)} MiB after the restart, ` +
        `${fmt(rssAfterLoadMiB)} MiB after ${MIXED_LOAD_SECONDS} s of mixed load (${fmt(load.requests)} requests, ` +
        `${fmt(load.perSecond)}/s, ${load.errors} errors${load.firstError ? `, first: ${load.firstError}` : ''}), peak ${fmt(rssPeakMiB)} MiB; after the load: ${fmt(memory.anonMiB)} MiB anonymous and ${fmt(memory.fileMiB)} MiB mapped files, ` +
        `the API thread's V8 heap ${fmt(heapAfterLoadMiB)} MiB used of ${fmt(heap.total)} MiB (new space ${fmt(heap.newSpace)}, old space ${fmt(heap.oldSpace)}), ${fmt(heap.external)} MiB external`,
    );
    if (then) await then(service);
    return {
      events: seeder.events,
      projectSeconds,
      restartReadyMs: service.readyMs,
      rssRestartMiB,
      rssAfterLoadMiB,
      rssPeakMiB,
      heapAfterLoadMiB,
      load,
    };
  } catch (error) {
    throw new Error(`${String(error)}\nservice output:\n${service.output().slice(-3000)}`, {
      cause: error,
    });
  } finally {
    await service.stop(120_000);
  }
}

/**
 * The API thread's V8 heap from the service's /metrics (prom-client's defaults), in MiB: used, total
 * (what the heap has reserved) and external (buffers held by JS objects); NaN where absent.
 */
async function heapMiB(
  service: ServiceProcess,
): Promise<{ used: number; total: number; external: number; newSpace: number; oldSpace: number }> {
  try {
    const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
    const mib = (name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]) / 2 ** 20;
    return {
      used: mib('nodejs_heap_size_used_bytes'),
      total: mib('nodejs_heap_size_total_bytes'),
      external: mib('nodejs_external_memory_bytes'),
      newSpace: mib('nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
      oldSpace: mib('nodejs_heap_space_size_total_bytes\\{space="old"\\}'),
    };
  } catch {
    return { used: NaN, total: NaN, external: NaN, newSpace: NaN, oldSpace: NaN };
  }
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];

/**
 * Usage records (to the load parents, which the seeder leaves alone), balances now and as of an
 * instant, history pages and a small parent's analytics, from MIXED_LOAD_CONCURRENCY callers.
 */
async function mixedLoad(
  service: ServiceProcess,
  seeder: ScaleSeeder,
  seconds: number,
): Promise<SizeFigures['load']> {
  const loadParents = seeder.small.slice(-LOAD_PARENTS);
  const readParents = seeder.small.slice(0, READ_PARENTS);
  const deadline = Date.now() + seconds * 1000;
  let requests = 0;
  let errors = 0;
  let firstError: string | null = null;
  let sequence = 0;
  const caller = async () => {
    while (Date.now() < deadline) {
      const roll = Math.random();
      const parent = roll < 0.4 ? pick(loadParents) : pick(readParents);
      const id = parent.log.parentId;
      const sub = pick(parent.log.subAccountIds);
      let answer;
      if (roll < 0.4) {
        answer = await call(
          service.baseUrl,
          'POST',
          `/v1/parents/${id}/sub-accounts/${sub}/usage`,
          parent.secret!,
          {
            idempotencyKey: `load-${process.pid}-${sequence++}-${randomUUID()}`,
            credits: 1,
            meter: 'api-calls',
          },
        );
      } else if (roll < 0.6) {
        answer = await call(
          service.baseUrl,
          'GET',
          `/v1/parents/${id}/sub-accounts/${sub}/balance`,
          parent.secret!,
        );
      } else if (roll < 0.75) {
        answer = await call(service.baseUrl, 'GET', balanceAsOfPath(seeder, id, sub), parent.secret!);
      } else if (roll < 0.95) {
        answer = await call(service.baseUrl, 'GET', historyPath(id, sub), parent.secret!);
      } else {
        answer = await call(service.baseUrl, 'GET', `/v1/parents/${id}/usage`, parent.secret!);
      }
      requests++;
      if (answer.status >= 300) {
        errors++;
        firstError ??= `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: MIXED_LOAD_CONCURRENCY }, caller));
  return { requests, errors, perSecond: requests / ((performance.now() - started) / 1000), firstError };
}

function balanceAsOfPath(seeder: ScaleSeeder, parentId: string, sub: string): string {
  const at = seeder.historyBegin + Math.random() * (seeder.historyEnd - seeder.historyBegin);
  return `/v1/parents/${parentId}/sub-accounts/${sub}/balance?asOf=${encodeURIComponent(new Date(at).toISOString())}`;
}

function historyPath(parentId: string, sub: string): string {
  return `/v1/parents/${parentId}/sub-accounts/${sub}/history?limit=50`;
}

/**
 * p99 of `count` sequential requests (after a few unmeasured), each required to answer 200, sent and
 * timed by a process of their own (`readProbe`): this one holds the seeded state, and its collections
 * must not land in the timings.
 */
async function p99Of(
  count: number,
  request: () => ProbeRequest,
  service: ServiceProcess,
  maxSeconds = 120,
): Promise<{ p50: number; p99: number; count: number }> {
  const warmUp = 5;
  const requests = Array.from({ length: count + warmUp }, () => request());
  // Bounded in time too, so a slow read cannot stretch the run; the count taken is reported.
  const ms = await readProbe(service.baseUrl, requests, { maxSeconds, minSamples: warmUp + 20 });
  const samples = ms.slice(warmUp);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), count: samples.length };
}

interface BigParentFigures {
  readonly subAccounts: number;
  readonly listMs: number;
  readonly pages: number;
  readonly allocations: number;
  readonly usageRecords: number;
  readonly closeMs: number;
  readonly invoices: number;
  readonly invoiceBytes: number;
  readonly invoiceEvents: number;
  readonly replayMs: number;
  readonly replayMatches: boolean;
}

/** Allocate, record usage and list the big parent over HTTP on a running service. */
async function bigParentBeforeClose(
  service: ServiceProcess,
  seeder: ScaleSeeder,
): Promise<{
  subAccounts: number;
  listMs: number;
  pages: number;
  allocations: number;
  usageRecords: number;
}> {
  const { secret } = seeder.big;
  const base = `/v1/parents/${BIG_PARENT}`;
  let allocations = 0;
  for (let i = 0; i < 100; i++) {
    await expectCall(
      200,
      service.baseUrl,
      'POST',
      `${base}/sub-accounts/${bigSubId((i * 997) % BIG_SUBS)}/allocations`,
      secret!,
      {
        credits: 10,
      },
    );
    allocations++;
  }
  let usageRecords = 0;
  for (let b = 0; b < 10; b++) {
    const records = Array.from({ length: 1_000 }, (_, i) => ({
      subAccountId: bigSubId((b * 10_007 + i * 97) % BIG_SUBS),
      idempotencyKey: `http-${b}-${i}`,
      credits: 1 + (i % 5),
      meter: i % 2 === 0 ? 'api-calls' : 'images',
    }));
    const answer = await expectCall(
      200,
      service.baseUrl,
      'POST',
      `${base}/usage/batch`,
      secret!,
      { records },
      300_000,
    );
    const refused = (answer.body.results as { status: number }[]).filter((r) => r.status !== 201);
    if (refused.length > 0)
      throw new Error(`usage batch refused ${refused.length} records: ${JSON.stringify(refused[0])}`);
    usageRecords += records.length;
  }
  const started = performance.now();
  let cursor: string | null = null;
  let subAccounts = 0;
  let pages = 0;
  do {
    const query: string = `?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await expectCall(
      200,
      service.baseUrl,
      'GET',
      `${base}/sub-accounts${query}`,
      secret!,
      undefined,
      120_000,
    );
    subAccounts += (page.body.items as unknown[]).length;
    cursor = page.body.nextCursor as string | null;
    pages++;
  } while (cursor);
  if (subAccounts !== BIG_SUBS)
    throw new Error(
      `listing the big parent with the cursor gave ${subAccounts} sub-accounts, not ${BIG_SUBS}`,
    );
  return { subAccounts, listMs: performance.now() - started, pages, allocations, usageRecords };
}

export async function benchScale(
  runtime: Runtime,
  dataDir: string,
  opts: { quick: boolean; log: (line: string) => void; progress: (line: string) => void },
): Promise<ScaleResult> {
  const { log, progress } = opts;
  const targets = process.env.BENCH_SCALE_EVENTS
    ? process.env.BENCH_SCALE_EVENTS.split(',').map(Number)
    : opts.quick
      ? [1_000_000]
      : [1_000_000, 5_000_000];
  const operatorToken = randomBytes(24).toString('base64url');
  const seeder = new ScaleSeeder(365);
  const sizes: SizeFigures[] = [];
  let reads:
    | {
        balanceAsOf: Awaited<ReturnType<typeof p99Of>>;
        history: Awaited<ReturnType<typeof p99Of>>;
        analytics: Awaited<ReturnType<typeof p99Of>>;
        analyticsByMeterDay: Awaited<ReturnType<typeof p99Of>>;
      }
    | undefined;
  let beforeClose: Awaited<ReturnType<typeof bigParentBeforeClose>> | undefined;
  const requests = opts.quick
    ? { balance: 300, history: 300, analytics: 100 }
    : { balance: 500, history: 500, analytics: 300 };

  for (let stage = 0; stage < targets.length; stage++) {
    const target = targets[stage];
    await withStore(runtime, dataDir, async (client) => {
      const writer = new StoreWriter(client, seeder.revisions);
      writer.events = seeder.events;
      const started = performance.now();
      let snapshot = '';
      if (stage === 0) {
        progress(`seeding ${PARENTS} parents (one with ${fmt(BIG_SUBS)} sub-accounts)`);
        await seeder.open(writer);
        snapshot = await seeder.snapshotBig(client, writer);
      }
      // The load parents took HTTP writes after the first stage: only the others get more seeded usage.
      const parents = stage === 0 ? seeder.small : seeder.small.slice(0, -LOAD_PARENTS);
      const span = seeder.historyEnd - seeder.historyBegin;
      const window = {
        from: seeder.historyBegin + (span * stage) / targets.length,
        to: seeder.historyBegin + (span * (stage + 1)) / targets.length,
      };
      progress(`seeding usage up to ${fmt(target)} events`);
      await seeder.usageUntil(writer, target, parents, window, progress);
      const seconds = (performance.now() - started) / 1000;
      log(
        `  seeded ${fmt(seeder.events)} events (${fmt(writer.appends)} appends in this stage, ${fmt(seconds, 1)} s, ` +
          `${fmt((writer.events - (stage === 0 ? 0 : targets[stage - 1])) / seconds)} events/s; bench RSS ${fmt(process.memoryUsage().rss / 2 ** 20)} MiB)${snapshot ? `; ${snapshot}` : ''}`,
      );
    });
    const last = stage === targets.length - 1;
    sizes.push(
      await measureSize(
        runtime,
        dataDir,
        seeder,
        operatorToken,
        log,
        progress,
        last
          ? async (service) => {
              const readParents = seeder.small.slice(0, READ_PARENTS);
              progress('p99 of balance asOf, history pages and the big parent’s analytics');
              const balanceAsOf = await p99Of(
                requests.balance,
                () => {
                  const parent = pick(readParents);
                  return {
                    path: balanceAsOfPath(seeder, parent.log.parentId, pick(parent.log.subAccountIds)),
                    secret: parent.secret!,
                  };
                },
                service,
              );
              const history = await p99Of(
                requests.history,
                () => {
                  const parent = pick(readParents);
                  return {
                    path: historyPath(parent.log.parentId, pick(parent.log.subAccountIds)),
                    secret: parent.secret!,
                  };
                },
                service,
              );
              const analytics = await p99Of(
                requests.analytics,
                () => ({
                  path: `/v1/parents/${BIG_PARENT}/usage`,
                  secret: seeder.big.secret!,
                }),
                service,
              );
              // The same rows summed by PostgreSQL into a few hundred groups: what the query costs
              // without 100,000 groups to serialise (in details only).
              const analyticsByMeterDay = await p99Of(
                requests.analytics,
                () => ({
                  path: `/v1/parents/${BIG_PARENT}/usage?groupBy=meter,day`,
                  secret: seeder.big.secret!,
                }),
                service,
              );
              reads = { balanceAsOf, history, analytics, analyticsByMeterDay };
              progress('the big parent: allocations, usage, the list walked with its cursor');
              beforeClose = await bigParentBeforeClose(service, seeder);
            }
          : undefined,
      ),
    );
  }

  // The close: the service restarted at the start of next month (SUBLEDGER_NOW), as the README's flow.
  const nowDate = new Date();
  const period = `${nowDate.getUTCFullYear()}-${String(nowDate.getUTCMonth() + 1).padStart(2, '0')}`;
  const nextMonth = new Date(Date.UTC(nowDate.getUTCFullYear(), nowDate.getUTCMonth() + 1, 1, 1));
  let big: BigParentFigures | undefined;
  progress(`closing ${period} of the big parent at ${nextMonth.toISOString()}`);
  const service = await startService(runtime, {
    dataDir,
    operatorToken,
    readyTimeoutMs: 600_000,
    env: { SUBLEDGER_NOW: nextMonth.toISOString() },
  });
  let closeMs: number;
  let invoices: number;
  let replayMs: number;
  let replayMatches: boolean;
  try {
    const base = `/v1/parents/${BIG_PARENT}/billing-periods/${period}`;
    const closed = await expectCall(
      201,
      service.baseUrl,
      'POST',
      `${base}/close`,
      operatorToken,
      {},
      900_000,
    );
    closeMs = closed.ms;
    invoices = (closed.body.invoices as unknown[]).length;
    const replay = await expectCall(
      200,
      service.baseUrl,
      'GET',
      `${base}/replay`,
      operatorToken,
      undefined,
      900_000,
    );
    replayMs = replay.ms;
    replayMatches = replay.body.matches === true;
  } catch (error) {
    throw new Error(`${String(error)}\nservice output:\n${service.output().slice(-3000)}`, {
      cause: error,
    });
  } finally {
    await service.stop(120_000);
  }

  // The invoice events' size and the rebuild, on the store alone.
  const rebuildFigures = await withStore(runtime, dataDir, async (client, store) => {
    let invoiceBytes = 0;
    let invoiceEvents = 0;
    for await (const resolved of client.readStream(`ledgerinvoices-${BIG_PARENT}`, { fromRevision: START })) {
      if (!resolved.event) continue;
      const event = resolved.event as { data: unknown; metadata: unknown };
      invoiceBytes += Buffer.byteLength(JSON.stringify(event.data));
      invoiceBytes +=
        event.metadata instanceof Uint8Array
          ? event.metadata.length
          : Buffer.byteLength(JSON.stringify(event.metadata ?? {}));
      invoiceEvents++;
    }
    big = {
      ...beforeClose!,
      closeMs,
      invoices,
      invoiceBytes,
      invoiceEvents,
      replayMs,
      replayMatches,
    };
    progress('reading $all, rebuilding every projection into a new PostgreSQL, reading $all again');
    const before = await benchReadAll(client, store.pid);
    const rebuild = await benchRebuild(
      runtime,
      store.connectionString,
      path.join(dataDir, '..', 'scale-rebuild'),
      1_800_000,
    );
    const after = await benchReadAll(client, store.pid);
    return { before, rebuild, after, storeOpenMs: store.openMs };
  });
  const readAllPerSec = (rebuildFigures.before.eventsPerSec + rebuildFigures.after.eventsPerSec) / 2;
  const ratio = rebuildFigures.rebuild.eventsPerSec / readAllPerSec;

  const at1M = sizes[0];
  const at5M = sizes.length > 1 ? sizes[1] : undefined;
  const rssOf = (size: SizeFigures | undefined) =>
    size ? Math.max(size.rssRestartMiB, size.rssAfterLoadMiB) : NaN;
  const finalSize = sizes[sizes.length - 1];
  const result: ScaleResult = {
    events: seeder.events,
    rssMiB1M: rssOf(at1M),
    rssMiB5M: rssOf(at5M),
    restartReadyMs: finalSize.restartReadyMs,
    balanceAsOfP99Ms: reads!.balanceAsOf.p99,
    historyP99Ms: reads!.history.p99,
    analyticsP99Ms: reads!.analytics.p99,
    bigParent: {
      subAccounts: big!.subAccounts,
      closeMs: big!.closeMs,
      invoiceBytes: big!.invoiceBytes,
      replayMatches: big!.replayMatches,
    },
    rebuildRatioToReadAll: ratio,
    details: {
      sizes,
      reads,
      bigParent: big,
      storeEventsAtRebuild: rebuildFigures.after.events,
      storeAloneOpenMs: rebuildFigures.storeOpenMs,
      readAllEventsPerSec: readAllPerSec,
      rebuildEventsPerSec: rebuildFigures.rebuild.eventsPerSec,
      rebuildEvents: rebuildFigures.rebuild.events,
    },
  };

  const rssLine = (size: SizeFigures) =>
    `${fmt(Math.max(size.rssRestartMiB, size.rssAfterLoadMiB))} MiB (${fmt(size.rssRestartMiB)} after a cold restart, ${fmt(size.rssAfterLoadMiB)} after ${MIXED_LOAD_SECONDS} s of mixed load; ${fmt(size.events)} events)`;
  log(
    `scale.events: ${fmt(result.events)} events seeded (${PARENTS} parents, one with ${fmt(BIG_SUBS)} sub-accounts); ` +
      `${fmt(rebuildFigures.after.events)} in the store after the HTTP phases`,
  );
  log(`scale.rssMiB1M: ${rssLine(at1M)} — target ≤ 256 MiB`);
  log(
    at5M
      ? `scale.rssMiB5M: ${rssLine(at5M)}; ÷ rssMiB1M = ${fmt(result.rssMiB5M / result.rssMiB1M, 2)} — target ≤ 256 MiB and ≤ 1.15`
      : 'scale.rssMiB5M: not taken (--quick) — target ≤ 256 MiB and ≤ 1.15 × rssMiB1M',
  );
  log(
    `scale.restartReadyMs: ${fmt(result.restartReadyMs)} ms to /health 200 at ${fmt(finalSize.events)} events ` +
      `(the store alone, spawned on the same folder at the end, was ready in ${fmt(rebuildFigures.storeOpenMs)} ms) — target ≤ 5,000 ms at 5M`,
  );
  log(
    `scale.balanceAsOfP99Ms: ${fmt(result.balanceAsOfP99Ms, 1)} ms (p50 ${fmt(reads!.balanceAsOf.p50, 1)}; ${reads!.balanceAsOf.count} requests) — target ≤ 20 ms`,
  );
  log(
    `scale.historyP99Ms: ${fmt(result.historyP99Ms, 1)} ms (a page of 50; p50 ${fmt(reads!.history.p50, 1)}; ${reads!.history.count} requests) — target ≤ 50 ms`,
  );
  log(
    `scale.analyticsP99Ms: ${fmt(result.analyticsP99Ms, 1)} ms (the ${fmt(BIG_SUBS)}-sub-account parent by sub-account; p50 ${fmt(reads!.analytics.p50, 1)}; ${reads!.analytics.count} requests; ` +
      `by meter and day instead: p99 ${fmt(reads!.analyticsByMeterDay.p99, 1)} ms, p50 ${fmt(reads!.analyticsByMeterDay.p50, 1)}) — target ≤ 200 ms`,
  );
  log(
    `scale.bigParent: ${fmt(big!.subAccounts)} sub-accounts (seeded by the decider; listed in ${big!.pages} pages of 500 with the cursor in ${fmt(big!.listMs / 1000, 1)} s after ${big!.allocations} allocations and ${fmt(big!.usageRecords)} usage records over HTTP); ` +
      `close ${fmt(big!.closeMs / 1000, 1)} s for ${fmt(big!.invoices)} invoices, ${fmt(big!.invoiceBytes / 2 ** 20, 1)} MiB in ${big!.invoiceEvents} events; replay ${fmt(big!.replayMs / 1000, 1)} s, matches ${big!.replayMatches} — target: all work`,
  );
  log(
    `scale.rebuildRatioToReadAll: ${fmt(100 * ratio)}% (rebuild ${fmt(rebuildFigures.rebuild.eventsPerSec)} events/s of ${fmt(rebuildFigures.rebuild.events)} events; readAll ${fmt(rebuildFigures.before.eventsPerSec)} before and ${fmt(rebuildFigures.after.eventsPerSec)} after) — target ≥ 90%`,
  );
  return result;
}
