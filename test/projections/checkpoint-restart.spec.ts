import { copyFile, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  BalanceAsOfService,
  balanceAsOfProjection,
  FileProjectionStateStore,
  InMemoryProjectionStateStore,
  PROJECTIONS,
  ProjectionRebuildingError,
  ProjectionRunner,
  SubAccountHistoryService,
  subAccountHistoryProjection,
  UsageAnalyticsService,
  usageAnalyticsProjection,
  type AnyProjection,
  type ProjectionRunnerOptions,
  type ProjectionStateStore,
} from '../../src/projections';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { LedgerWriter } from './ledger-writer';

const WAIT_MS = 30_000;
/** The runner's two ways of catching up after a restart: both must resume alike. */
const CATCH_UP_PATHS: Array<[string, boolean]> = [
  ['reading $all', true],
  ['the subscription', false],
];

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

function snapshots(runner: ProjectionRunner, projections: readonly AnyProjection[]): Record<string, string> {
  return Object.fromEntries(
    projections.map((p) => [p.name, JSON.stringify(p.toSnapshot(runner.stateOf(p.name)))]),
  );
}

describe('projection checkpoints', () => {
  let store: TestEventStore;
  let dir: string;
  let runners: ProjectionRunner[];
  /** A started runner of every projection (unless `options` says otherwise), stopped after the test. */
  const startRunner = async (
    states: ProjectionStateStore,
    options: Partial<ProjectionRunnerOptions> = {},
  ): Promise<ProjectionRunner> => {
    const runner = new ProjectionRunner({
      client: store.client,
      projections: PROJECTIONS,
      store: states,
      ...options,
    });
    runners.push(runner);
    await runner.start();
    return runner;
  };
  /** The read models folded once from the start of the log up to `end`: what a resumed runner must equal. */
  const foldedFromStart = async (end: bigint): Promise<ProjectionRunner> => {
    const fresh = await startRunner(new InMemoryProjectionStateStore());
    await fresh.waitForPosition(end, WAIT_MS);
    return fresh;
  };

  beforeEach(async () => {
    runners = [];
    // A store of its own: the test counts every ledger event in it.
    store = await startTestEventStore();
    dir = await mkdtemp(path.join(tmpdir(), 'subledger-projections-'));
  });

  afterEach(async () => {
    for (const runner of runners) await runner.stop({ save: false });
    await store.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(CATCH_UP_PATHS)(
    'resumes after the stored checkpoint, catching up by %s, with no event counted twice or skipped',
    async (_, catchUpByReading) => {
      const ledger = openLedger(store.client, 'pcheck');
      await ledger.flush();
      const firstEnd = await appendUsage(ledger, 's', 298, '2026-10-02');
      const files = new FileProjectionStateStore(dir);

      // Saves once, after its 100th event, then never again: the "crash" below leaves a checkpoint
      // in the middle of what it had applied.
      const crashed = await startRunner(files, {
        catchUpByReading,
        saveEveryEvents: 100,
        saveEveryMs: 3_600_000,
        maxSaveShare: 1e-9,
      });
      await crashed.waitForPosition(firstEnd, WAIT_MS);
      await crashed.stop({ save: false });

      const stored = await files.load(usageAnalyticsProjection.name, usageAnalyticsProjection.version);
      expect(crashed.status().map((s) => s.savedCheckpoint)).toEqual(
        PROJECTIONS.map(() => stored!.checkpoint),
      );
      expect(stored).toBeDefined();
      expect(stored!.checkpoint.commit).toBeLessThan(firstEnd);
      const hundredth = await store.client.readStream('ledger-pcheck', { fromRevision: 99n, maxCount: 1 });
      for await (const resolved of hundredth)
        expect(stored!.checkpoint.commit).toBe(resolved.event!.position!.commit);

      const secondEnd = await appendUsage(ledger, 's', 100, '2026-10-03');
      const resumed = await startRunner(files, { catchUpByReading });
      await resumed.waitForPosition(secondEnd, WAIT_MS);
      const fresh = await foldedFromStart(secondEnd);

      expect(snapshots(resumed, PROJECTIONS)).toEqual(snapshots(fresh, PROJECTIONS));
      // 5 + 298 + 100 ledger events; the resumed runner folded only those after its checkpoint (the 100th).
      expect(resumed.status().map((s) => s.eventsApplied)).toEqual(PROJECTIONS.map(() => 303));
      const usage = new UsageAnalyticsService(resumed, { readTimeoutMs: WAIT_MS });
      expect((await usage.usage('pcheck', { groupBy: ['day'] })).groups).toEqual([
        { key: '2026-10-02', day: '2026-10-02', credits: 298, records: 298 },
        { key: '2026-10-03', day: '2026-10-03', credits: 100, records: 100 },
      ]);
      await resumed.stop();
      await fresh.stop();
    },
  );

  it.each(CATCH_UP_PATHS)(
    'resumes each projection from its own checkpoint when their files were saved at different positions, catching up by %s',
    async (_, catchUpByReading) => {
      const ledger = openLedger(store.client, 'pstaggered');
      await ledger.flush();
      const files = new FileProjectionStateStore(dir);
      const runToEnd = async (end: bigint) => {
        const runner = await startRunner(files);
        await runner.waitForPosition(end, WAIT_MS);
        await runner.stop({ save: true });
      };
      const fileOf = (projection: AnyProjection) => files.fileOf(projection.name, projection.version);
      const [history, balance, usage] = [
        subAccountHistoryProjection,
        balanceAsOfProjection,
        usageAnalyticsProjection,
      ];

      // Three saves of every file, 100 usage records apart; balance-as-of's file is kept from the first,
      // the history's from the second, as after crashes between the files' saves (or a version bump of
      // one projection between runs): each file still holds a state with its own checkpoint.
      await runToEnd(await appendUsage(ledger, 's', 100, '2026-10-02'));
      await copyFile(fileOf(balance), `${fileOf(balance)}.first`);
      await runToEnd(await appendUsage(ledger, 's', 100, '2026-10-03'));
      await copyFile(fileOf(history), `${fileOf(history)}.second`);
      await runToEnd(await appendUsage(ledger, 's', 100, '2026-10-04'));
      await rename(`${fileOf(balance)}.first`, fileOf(balance));
      await rename(`${fileOf(history)}.second`, fileOf(history));
      const end = await appendUsage(ledger, 's', 50, '2026-10-05');

      const resumed = await startRunner(files, { catchUpByReading });
      const saved = (projection: AnyProjection) =>
        resumed.status().find((s) => s.name === projection.name)!.savedCheckpoint!.commit;
      expect(saved(balance)).toBeLessThan(saved(history));
      expect(saved(history)).toBeLessThan(saved(usage));
      await resumed.waitForPosition(end, WAIT_MS);

      // The log is read again from the lowest checkpoint (balance-as-of's); each projection folds only
      // what lies after its own, 250, 150 and 50 events: usage totals and the trail count nothing twice.
      const applied = Object.fromEntries(resumed.status().map((s) => [s.name, s.eventsApplied]));
      expect(applied).toEqual({ [balance.name]: 250, [history.name]: 150, [usage.name]: 50 });
      const read = { readTimeoutMs: WAIT_MS };
      expect(
        (await new UsageAnalyticsService(resumed, read).usage('pstaggered', { groupBy: ['day'] })).groups,
      ).toEqual([
        { key: '2026-10-02', day: '2026-10-02', credits: 100, records: 100 },
        { key: '2026-10-03', day: '2026-10-03', credits: 100, records: 100 },
        { key: '2026-10-04', day: '2026-10-04', credits: 100, records: 100 },
        { key: '2026-10-05', day: '2026-10-05', credits: 50, records: 50 },
      ]);
      const trail = new SubAccountHistoryService(resumed, store.client, read);
      const page = await trail.history('pstaggered', 's', { limit: 500 });
      const revisions = page!.entries.map((e) => e.revision);
      expect(new Set(revisions).size).toBe(revisions.length);
      expect(page!.entries.filter((e) => e.type === 'UsageRecorded')).toHaveLength(350);
      expect(
        await new BalanceAsOfService(resumed, read).balanceAsOf(
          'pstaggered',
          's',
          new Date('2030-01-01T00:00:00Z'),
        ),
      ).toMatchObject({ quota: 1_000_000, used: 350 });
      // And every read model is exactly the one folded once from the start.
      const fresh = await foldedFromStart(end);
      expect(snapshots(resumed, PROJECTIONS)).toEqual(snapshots(fresh, PROJECTIONS));
      await resumed.stop();
      await fresh.stop();
    },
  );

  it('rebuilds a projection whose version changed, and reads wait for the rebuild', async () => {
    const ledger = openLedger(store.client, 'pversion');
    await ledger.flush();
    const end = await appendUsage(ledger, 's', 1_000, '2026-10-02');
    const files = new FileProjectionStateStore(dir);
    const first = await startRunner(files);
    await first.waitForPosition(end, WAIT_MS);
    await first.stop({ save: true });
    expect((await readdir(dir)).sort()).toEqual(
      PROJECTIONS.map((p) => `${p.name}.v${p.version}.json`).sort(),
    );

    const bumped: AnyProjection = {
      ...usageAnalyticsProjection,
      version: usageAnalyticsProjection.version + 1,
    };
    const projections = PROJECTIONS.map((p) => (p.name === bumped.name ? bumped : p));
    const second = await startRunner(files, { projections });

    // Nothing of the log has been applied yet: the rebuilt read model must not answer.
    expect(second.isCaughtUp()).toBe(false);
    expect(second.status().find((s) => s.name === bumped.name)!.rebuilding).toBe(true);
    expect(second.status().filter((s) => s.name !== bumped.name && s.rebuilding)).toEqual([]);
    const impatient = new UsageAnalyticsService(second, { readTimeoutMs: 0 });
    await expect(impatient.usage('pversion', { groupBy: ['meter'] })).rejects.toBeInstanceOf(
      ProjectionRebuildingError,
    );

    const patient = new UsageAnalyticsService(second, { readTimeoutMs: WAIT_MS });
    const report = await patient.usage('pversion', { groupBy: ['meter'] });
    expect(report.total).toEqual({ credits: 1_000, records: 1_000 });
    // The others resumed at the end of the log and folded nothing again.
    expect(second.status().map((s) => [s.name, s.eventsApplied])).toEqual(
      projections.map((p) => [p.name, p === bumped ? 1_005 : 0]),
    );
    await second.stop({ save: true });
    expect(await readdir(dir)).toContain(`${bumped.name}.v${bumped.version}.json`);
    expect(await readdir(dir)).not.toContain(`${bumped.name}.v${usageAnalyticsProjection.version}.json`);
  });
});
