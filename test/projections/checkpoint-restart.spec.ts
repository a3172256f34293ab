import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Database } from '../../src/database/database';
import {
  BalanceAsOfService,
  creditEntriesProjection,
  ProjectionRebuildingError,
  ProjectionRunner,
  SubAccountHistoryService,
  UsageAnalyticsService,
  usageAnalyticsProjection,
  type AnyProjection,
  type ProjectionRunnerOptions,
} from '../../src/projections';
import { usageAnalyticsInto } from '../../src/projections/usage-analytics/usage-analytics.projection';
import { openTestDatabase } from '../support/database';
import { pollUntil } from '../support/poll';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { LedgerWriter } from './ledger-writer';

const WAIT_MS = 30_000;
/** The read models this suite checks row by row (the service's list may hold more). */
const PROJECTIONS: readonly AnyProjection[] = [creditEntriesProjection, usageAnalyticsProjection];
const READ = { readTimeoutMs: WAIT_MS };
/**
 * The runner's ways of catching up after a restart: all must resume alike. The reader thread is given
 * its connection string when the store has started (`catchUpBy`).
 */
const CATCH_UP_PATHS: Array<[string, CatchUpPath]> = [
  ['reading $all', 'reading'],
  ['reading $all on a reader thread', 'thread'],
  ['the subscription', 'subscription'],
];
type CatchUpPath = 'reading' | 'thread' | 'subscription';

/** Appends `count` usage records of 1 credit in appends of 50, returning the last commit position. */
async function appendUsage(
  ledger: LedgerWriter,
  subAccountId: string,
  count: number,
  day: string,
): Promise<bigint> {
  let position = 0n;
  for (let done = 0; done < count;) {
    const batch = Math.min(50, count - done);
    for (let i = 0; i < batch; i++)
      ledger.use(subAccountId, 1, `${day}T10:00:00.000Z`, { meter: `m${i % 3}` });
    position = await ledger.flush();
    done += batch;
  }
  return position;
}

/**
 * A parent with a pool of 1,000,000 credits, all allocated to its one sub-account `s`: 5 ledger events
 * (ParentAccountOpened, the parent key's ApiKeyIssued, CreditsPurchased, SubAccountCreated,
 * QuotaAllocated), queued.
 */
function openLedger(client: EventStoreDBClient, parentId: string): LedgerWriter {
  return new LedgerWriter(client, parentId)
    .open('2026-10-01T00:00:00.000Z')
    .purchase(1_000_000, '2026-10-01T00:00:00.000Z')
    .createSubAccount('s', '2026-10-01T00:00:00.000Z')
    .allocate('s', 1_000_000, '2026-10-01T00:00:00.000Z');
}

/** Every row of the read models, in a fixed order: two databases built from one log must be equal. */
async function tables(database: Database, usageTable = 'usage_daily_v1'): Promise<Record<string, unknown[]>> {
  const credit = await database.pool.query(
    'SELECT * FROM credit_entries_v2 ORDER BY parent_id, account, revision',
  );
  const usage = await database.pool.query(
    `SELECT * FROM ${usageTable} ORDER BY parent_id, sub_account_id, meter, day`,
  );
  return { credit: credit.rows, usage: usage.rows };
}

describe('projection checkpoints in PostgreSQL', () => {
  let store: TestEventStore;
  let runners: ProjectionRunner[];
  let databases: Database[];
  const database = async (): Promise<Database> => {
    const opened = await openTestDatabase();
    databases.push(opened);
    return opened;
  };
  /** A started runner of every projection (unless `options` says otherwise), stopped after the test. */
  const catchUpBy = (path: CatchUpPath): Partial<ProjectionRunnerOptions> => ({
    catchUpByReading: path !== 'subscription',
    ...(path === 'thread' ? { readerThread: store.connectionString } : {}),
  });
  const startRunner = async (
    db: Database,
    options: Partial<ProjectionRunnerOptions> = {},
  ): Promise<ProjectionRunner> => {
    const runner = new ProjectionRunner({
      client: store.client,
      projections: PROJECTIONS,
      database: db,
      ...options,
    });
    runners.push(runner);
    await runner.start();
    return runner;
  };
  /** The read models written once from the start of the log up to `end`, in a database of their own. */
  const foldedFromStart = async (end: bigint): Promise<Database> => {
    const db = await database();
    const fresh = await startRunner(db);
    await fresh.waitForPosition(end, WAIT_MS);
    await fresh.stop();
    return db;
  };

  beforeEach(async () => {
    runners = [];
    databases = [];
    // A store of its own: the test counts every ledger event in it.
    store = await startTestEventStore();
  });

  afterEach(async () => {
    for (const runner of runners) await runner.stop({ commit: false });
    for (const db of databases) await db.close();
    await store.stop();
  });

  it.each(CATCH_UP_PATHS)(
    'resumes after the checkpoint rows, catching up by %s, with no event written twice or skipped',
    async (_, path) => {
      const catchUp = catchUpBy(path);
      const ledger = openLedger(store.client, 'pcheck');
      await ledger.flush();
      const firstEnd = await appendUsage(ledger, 's', 298, '2026-10-02');
      const db = await database();

      // Batches of 100 events, each committed with its checkpoint.
      const first = await startRunner(db, { ...catchUp, batchSize: 100 });
      await first.waitForPosition(firstEnd, WAIT_MS);
      await first.stop({ commit: false });
      const { rows } = await db.pool.query<{ commit_position: string }>(
        'SELECT commit_position FROM read_model_checkpoints',
      );
      expect(rows.map((row) => BigInt(row.commit_position))).toEqual(PROJECTIONS.map(() => firstEnd));

      const secondEnd = await appendUsage(ledger, 's', 100, '2026-10-03');
      const resumed = await startRunner(db, catchUp);
      expect(resumed.status().map((s) => s.checkpoint?.commit)).toEqual(PROJECTIONS.map(() => firstEnd));
      await resumed.waitForPosition(secondEnd, WAIT_MS);
      // Only the 100 events after the checkpoint were written again.
      expect(resumed.status().map((s) => s.eventsApplied)).toEqual(PROJECTIONS.map(() => 100));
      expect(await tables(db)).toEqual(await tables(await foldedFromStart(secondEnd)));
      const usage = new UsageAnalyticsService(resumed, db, READ);
      expect((await usage.usage('pcheck', { groupBy: ['day'] })).groups).toEqual([
        { key: '2026-10-02', day: '2026-10-02', credits: 298, records: 298 },
        { key: '2026-10-03', day: '2026-10-03', credits: 100, records: 100 },
      ]);
    },
  );

  it.each(CATCH_UP_PATHS)(
    'resumes each projection from its own checkpoint when they stand at different positions, catching up by %s',
    async (_, path) => {
      const catchUp = catchUpBy(path);
      const ledger = openLedger(store.client, 'pstaggered');
      await ledger.flush();
      const db = await database();
      const runTo = async (end: bigint, projections: readonly AnyProjection[]) => {
        const runner = await startRunner(db, { projections });
        await runner.waitForPosition(end, WAIT_MS);
        await runner.stop();
      };
      // Usage analytics runs on alone for 100 more records: the two checkpoints now differ by 100 events.
      await runTo(await appendUsage(ledger, 's', 100, '2026-10-02'), PROJECTIONS);
      await runTo(await appendUsage(ledger, 's', 100, '2026-10-03'), [usageAnalyticsProjection]);
      const end = await appendUsage(ledger, 's', 50, '2026-10-04');

      const resumed = await startRunner(db, catchUp);
      const checkpointOf = (name: string) =>
        resumed.status().find((s) => s.name === name)!.checkpoint!.commit;
      expect(checkpointOf(creditEntriesProjection.name)).toBeLessThan(
        checkpointOf(usageAnalyticsProjection.name),
      );
      await resumed.waitForPosition(end, WAIT_MS);

      // The log is read again from the lowest checkpoint; each projection writes only what lies after
      // its own: 150 and 50 events. Usage totals and the trail count nothing twice.
      const applied = Object.fromEntries(resumed.status().map((s) => [s.name, s.eventsApplied]));
      expect(applied).toEqual({ [creditEntriesProjection.name]: 150, [usageAnalyticsProjection.name]: 50 });
      expect(
        (await new UsageAnalyticsService(resumed, db, READ).usage('pstaggered', { groupBy: ['day'] })).groups,
      ).toEqual([
        { key: '2026-10-02', day: '2026-10-02', credits: 100, records: 100 },
        { key: '2026-10-03', day: '2026-10-03', credits: 100, records: 100 },
        { key: '2026-10-04', day: '2026-10-04', credits: 50, records: 50 },
      ]);
      const page = await new SubAccountHistoryService(resumed, db, READ).history('pstaggered', 's', {
        limit: 500,
      });
      const revisions = page!.entries.map((e) => e.revision);
      expect(new Set(revisions).size).toBe(revisions.length);
      expect(page!.entries.filter((e) => e.type === 'UsageRecorded')).toHaveLength(250);
      expect(
        await new BalanceAsOfService(resumed, db, READ).balanceAsOf(
          'pstaggered',
          's',
          new Date('2030-01-01T00:00:00Z'),
        ),
      ).toMatchObject({ quota: 1_000_000, used: 250 });
      expect(await tables(db)).toEqual(await tables(await foldedFromStart(end)));
    },
  );

  it('keeps a failed transaction pending and retries it: nothing is lost or written twice', async () => {
    const ledger = openLedger(store.client, 'pretry');
    await ledger.flush();
    const end = await appendUsage(ledger, 's', 300, '2026-10-02');
    const db = await database();
    let failures = 0;
    // The database refuses the usage rows of the second batch once, as a server restarting would.
    let batches = 0;
    const flaky: AnyProjection = {
      ...usageAnalyticsProjection,
      async write(client, events) {
        if (++batches === 2 && failures === 0) {
          failures++;
          throw new Error('connection terminated unexpectedly');
        }
        await usageAnalyticsProjection.write(client, events);
      },
    };
    const runner = await startRunner(db, {
      projections: [creditEntriesProjection, flaky],
      batchSize: 100,
      retryDelayMs: 10,
    });
    await runner.waitForPosition(end, WAIT_MS);
    expect(failures).toBe(1);
    expect(await tables(db)).toEqual(await tables(await foldedFromStart(end)));
  });

  it('fails a rebuild for good with its cause, rolls it back, and leaves the old rows serving', async () => {
    const ledger = openLedger(store.client, 'pbroken');
    await ledger.flush();
    const end = await appendUsage(ledger, 's', 100, '2026-10-02');
    const db = await database();
    const first = await startRunner(db);
    await first.waitForPosition(end, WAIT_MS);
    await first.stop();
    const before = await tables(db);

    const broken: AnyProjection = {
      ...usageAnalyticsProjection,
      async write() {
        throw new Error('value too long for type character varying(8)');
      },
    };
    const rebuild = await startRunner(db, { fresh: true, projections: [creditEntriesProjection, broken] });
    // The cause, at once: not a wait that times out as if the rebuild were still going.
    await expect(rebuild.whenCaughtUp(WAIT_MS)).rejects.toThrow('value too long');
    await rebuild.stop({ commit: true });
    expect(await tables(db)).toEqual(before);
  });

  it('lets each projection of a rebuild write at its own pace, caught up once the slowest wrote everything', async () => {
    const ledger = openLedger(store.client, 'ppace');
    await ledger.flush();
    const end = await appendUsage(ledger, 's', 600, '2026-10-02');
    const db = await database();
    let fastBatches = 0;
    let slowBatches = 0;
    let mostAhead = 0;
    const fast: AnyProjection = {
      ...creditEntriesProjection,
      async write(client, events) {
        await creditEntriesProjection.write(client, events);
        fastBatches++;
        mostAhead = Math.max(mostAhead, fastBatches - slowBatches);
      },
    };
    const slow: AnyProjection = {
      ...usageAnalyticsProjection,
      async write(client, events) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await usageAnalyticsProjection.write(client, events);
        slowBatches++;
      },
    };
    const rebuild = await startRunner(db, { fresh: true, batchSize: 50, projections: [fast, slow] });
    await rebuild.whenCaughtUp(WAIT_MS);
    const writtenWhenCaughtUp = { fast: fastBatches, slow: slowBatches };
    await rebuild.stop({ commit: true });
    // The quick projection ran batches ahead instead of waiting for the slow one at each of them…
    expect(mostAhead).toBeGreaterThan(1);
    // …and nothing was left to write once the rebuild said it had caught up.
    expect(writtenWhenCaughtUp).toEqual({ fast: fastBatches, slow: slowBatches });
    expect(slowBatches).toBe(fastBatches);
    expect(await tables(db)).toEqual(await tables(await foldedFromStart(end)));
  });

  it('lets two instances write one database at once: each event is written exactly once', async () => {
    const ledger = openLedger(store.client, 'ptwo');
    await ledger.flush();
    const db = await database();
    const a = await startRunner(db, { batchSize: 40 });
    const b = await startRunner(db, { batchSize: 40 });
    let end = 0n;
    for (let round = 0; round < 6; round++) end = await appendUsage(ledger, 's', 60, `2026-10-0${round + 2}`);
    await a.waitForPosition(end, WAIT_MS);
    await b.waitForPosition(end, WAIT_MS);
    // 5 + 360 ledger events, and for each projection the two instances together wrote each one once.
    for (const projection of PROJECTIONS) {
      const byA = a.status().find((s) => s.name === projection.name)!.eventsApplied;
      const byB = b.status().find((s) => s.name === projection.name)!.eventsApplied;
      expect(byA + byB).toBe(365);
    }
    const report = await new UsageAnalyticsService(b, db, READ).usage('ptwo', { groupBy: ['meter'] });
    expect(report.total).toEqual({ credits: 360, records: 360 });
    expect(await tables(db)).toEqual(await tables(await foldedFromStart(end)));
  });

  it('rebuilds a projection whose version changed into its new tables, and reads wait for the rebuild', async () => {
    const ledger = openLedger(store.client, 'pversion');
    await ledger.flush();
    const end = await appendUsage(ledger, 's', 1_000, '2026-10-02');
    const db = await database();
    const first = await startRunner(db);
    await first.waitForPosition(end, WAIT_MS);
    await first.stop();

    // What a version bump ships: a migration's new table, and the projection writing into it.
    await db.pool.query('CREATE TABLE usage_daily_v2 (LIKE usage_daily_v1 INCLUDING ALL)');
    const bumped = usageAnalyticsInto('usage_daily_v2', usageAnalyticsProjection.version + 1);
    const projections = [creditEntriesProjection, bumped];
    const second = await startRunner(db, { projections });

    expect(second.status().find((s) => s.name === bumped.name)!.rebuilding).toBe(true);
    expect(second.status().filter((s) => s.name !== bumped.name && s.rebuilding)).toEqual([]);
    const impatient = new UsageAnalyticsService(second, db, { readTimeoutMs: 0 });
    if (!second.isCaughtUp()) {
      await expect(impatient.usage('pversion', { groupBy: ['meter'] })).rejects.toBeInstanceOf(
        ProjectionRebuildingError,
      );
    }
    await second.whenCaughtUp(WAIT_MS);
    // The new version was folded from the start; the other resumed at the end and wrote nothing again.
    expect(second.status().map((s) => [s.name, s.eventsApplied])).toEqual([
      [creditEntriesProjection.name, 0],
      [bumped.name, 1_005],
    ]);
    // The old version's table was left as it was (instances still running the old version serve it).
    const v1 = await tables(db, 'usage_daily_v1');
    expect(await tables(db, 'usage_daily_v2')).toEqual(v1);
    // The stable view people query now shows the new version's table, and an old instance starting
    // late does not point it back.
    const shown = async () =>
      (
        await db.pool.query<{ definition: string }>(
          "SELECT definition FROM pg_views WHERE viewname = 'usage_daily'",
        )
      ).rows[0]?.definition ?? '';
    // (A view being replaced cannot be read for a moment: that read counts as "not yet".)
    await pollUntil(
      () => shown().catch(() => ''),
      (definition) => definition.includes('usage_daily_v2'),
    );
    const late = await startRunner(db);
    await late.whenCaughtUp(WAIT_MS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await shown()).toContain('usage_daily_v2');
    const { rows } = await db.pool.query(
      'SELECT projection, version FROM read_model_checkpoints ORDER BY 1, 2',
    );
    expect(rows).toEqual([
      { projection: creditEntriesProjection.name, version: creditEntriesProjection.version },
      { projection: bumped.name, version: 1 },
      { projection: bumped.name, version: 2 },
    ]);
  });

  it('rebuilds everything in one transaction beside a live runner, which then skips what the rebuild wrote', async () => {
    const ledger = openLedger(store.client, 'prebuild');
    await ledger.flush();
    const db = await database();
    const live = await startRunner(db, { batchSize: 50 });
    const before = await appendUsage(ledger, 's', 400, '2026-10-02');
    await live.waitForPosition(before, WAIT_MS);

    const rebuild = await startRunner(db, { fresh: true });
    // While the rebuild holds the checkpoint rows, the live runner's next batch waits; readers see the old rows.
    const during = appendUsage(ledger, 's', 100, '2026-10-03');
    await rebuild.whenCaughtUp(WAIT_MS);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM credit_entries_v2');
    expect(rows[0].n).toBeGreaterThan(0);
    await rebuild.stop({ commit: true });
    const end = await during;
    await live.waitForPosition(end, WAIT_MS);
    expect(await tables(db)).toEqual(await tables(await foldedFromStart(end)));
    const report = await new UsageAnalyticsService(live, db, READ).usage('prebuild', { groupBy: ['day'] });
    expect(report.total).toEqual({ credits: 500, records: 500 });
  });

  it('vacuums and analyses its tables after a large catch-up, before it opens for reads, and not after a small one', async () => {
    const ledger = openLedger(store.client, 'psettle');
    await ledger.flush();
    const end = await appendUsage(ledger, 's', 200, '2026-10-02');
    const vacuumed = async (db: Database) =>
      (
        await db.pool.query<{ relname: string; vacuumed: boolean; analysed: boolean }>(
          `SELECT relname, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analysed
           FROM pg_stat_user_tables WHERE relname = ANY($1) ORDER BY relname`,
          [PROJECTIONS.flatMap((projection) => projection.tables)],
        )
      ).rows;

    // 200 records (and the opening events) folded: over a threshold of 100, under one of 1,000.
    const small = await database();
    const under = await startRunner(small, { settleAfterEvents: 1_000 });
    await under.waitForPosition(end, WAIT_MS);
    expect((await vacuumed(small)).map((row) => row.vacuumed || row.analysed)).toEqual([false, false]);

    const large = await database();
    const over = await startRunner(large, { settleAfterEvents: 100 });
    await over.whenCaughtUp(WAIT_MS);
    // Open for reads only once both tables are settled.
    expect(await vacuumed(large)).toEqual([
      { relname: 'credit_entries_v2', vacuumed: true, analysed: true },
      { relname: 'usage_daily_v1', vacuumed: true, analysed: true },
    ]);
    expect(await tables(large)).toEqual(await tables(small));
  });
});
