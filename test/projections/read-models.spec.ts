import { randomUUID } from 'node:crypto';
import { jsonEvent } from '@eventstore/db-client';
import {
  BalanceAsOfService,
  PROJECTIONS,
  ProjectionQueryError,
  ProjectionRunner,
  SubAccountHistoryService,
  UsageAnalyticsService,
} from '../../src/projections';
import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { LedgerWriter } from './ledger-writer';

const WAIT_MS = 15_000;
const READ = { readTimeoutMs: WAIT_MS };

describe('read models over the ledger stream', () => {
  let store: TestEventStore;
  let runner: ProjectionRunner;
  let database: Database;
  let history: SubAccountHistoryService;
  let balances: BalanceAsOfService;
  let usage: UsageAnalyticsService;

  beforeAll(async () => {
    store = await startTestEventStore();
    database = await openTestDatabase();
    runner = new ProjectionRunner({ client: store.client, projections: PROJECTIONS, database });
    await runner.start();
    history = new SubAccountHistoryService(runner, database, READ);
    balances = new BalanceAsOfService(runner, database, READ);
    usage = new UsageAnalyticsService(runner, database, READ);
  });

  afterAll(async () => {
    await runner.stop();
    await database.close();
    await store.stop();
  });

  /** A parent opened with a pool of `credits`, as every ledger history starts. */
  const newParent = (credits: number, at: string) =>
    new LedgerWriter(store.client, `p${randomUUID().replace(/-/g, '')}`).open(at).purchase(credits, at);

  const readRevision = async (streamName: string, revision: number) => {
    const events = [];
    for await (const resolved of store.client.readStream(streamName, {
      fromRevision: BigInt(revision),
      maxCount: 1,
    }))
      events.push(resolved.event!);
    return events;
  };

  it('answers the audit trail of a sub-account with the balances each event states', async () => {
    const ledger = newParent(20_000, '2026-10-01T08:00:00.000Z')
      .createSubAccount('s1', '2026-10-01T09:00:00.000Z')
      .createSubAccount('s2', '2026-10-01T09:00:01.000Z')
      .allocate('s1', 8_000, '2026-10-01T09:05:00.000Z')
      .allocate('s2', 1_000, '2026-10-01T09:06:00.000Z')
      .use('s1', 2_000, '2026-10-02T10:00:00.000Z', {
        meter: 'images',
        occurredAt: '2026-10-02T09:59:00.000Z',
      })
      .returnCredits('s1', 6_000, '2026-10-03T10:00:00.000Z')
      .close('s2', '2026-10-04T10:00:00.000Z');
    const position = await ledger.flush();
    await runner.waitForPosition(position, WAIT_MS);

    const page = await history.history(ledger.parentId, 's1', { limit: 50 });
    expect(page!.nextCursor).toBeNull();
    expect(
      page!.entries.map((e) => [
        e.type,
        e.credits,
        e.balancesAfter.quota,
        e.balancesAfter.used,
        e.balancesAfter.remaining,
      ]),
    ).toEqual([
      ['SubAccountCreated', 0, 0, 0, 0],
      ['QuotaAllocated', 8_000, 8_000, 0, 8_000],
      ['UsageRecorded', 2_000, 8_000, 2_000, 6_000],
      ['CreditsReturned', 6_000, 2_000, 2_000, 0],
    ]);
    const usageEntry = page!.entries[2];
    expect(usageEntry).toMatchObject({
      occurredAt: '2026-10-02T09:59:00.000Z',
      recordedAt: '2026-10-02T10:00:00.000Z',
      meter: 'images',
      billingPeriod: '2026-10',
      late: false,
      actor: { type: 'parent', id: ledger.parentId },
    });
    // The entry is the stored event's: its id, usage id, key and the envelope's correlation ids.
    const [stored] = await readRevision(ledger.streamName, usageEntry.revision);
    const storedData = stored.data as { usageId: string; idempotencyKey: string };
    const storedMetadata = stored.metadata as { $correlationId: string; $causationId: string };
    expect(usageEntry).toMatchObject({
      eventId: stored.id,
      usageId: storedData.usageId,
      idempotencyKey: storedData.idempotencyKey,
      correlationId: storedMetadata.$correlationId,
      causationId: storedMetadata.$causationId,
    });
    expect(usageEntry.correlationId).toEqual(expect.any(String));
    // The sub-account's trail never carries the parent's prices.
    expect(JSON.stringify(page)).not.toContain('0.002');

    const pool = await history.poolHistory(ledger.parentId, { limit: 50 });
    expect(pool!.entries.map((e) => [e.type, e.subAccountId, e.credits, e.poolAfter.available])).toEqual([
      ['CreditsPurchased', null, 20_000, 20_000],
      ['QuotaAllocated', 's1', 8_000, 12_000],
      ['QuotaAllocated', 's2', 1_000, 11_000],
      ['CreditsReturned', 's1', 6_000, 17_000],
      // Closing s2 gave its unused 1,000 back to the pool.
      ['SubAccountClosed', 's2', 1_000, 18_000],
    ]);
    expect(await history.history(ledger.parentId, 'nobody', { limit: 10 })).toBeUndefined();
  });

  it('filters the history by a half-open recordedAt range', async () => {
    const ledger = newParent(100, '2026-09-30T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .allocate('s', 100, '2026-10-01T12:00:00.000Z')
      .use('s', 1, '2026-10-02T00:00:00.000Z')
      .use('s', 2, '2026-10-02T23:59:59.999Z')
      .use('s', 3, '2026-10-03T00:00:00.000Z');
    await runner.waitForPosition(await ledger.flush(), WAIT_MS);

    const day = await history.history(ledger.parentId, 's', {
      from: new Date('2026-10-02T00:00:00Z'),
      to: new Date('2026-10-03T00:00:00Z'),
      limit: 50,
    });
    expect(day!.entries.map((e) => e.credits)).toEqual([1, 2]);
    await expect(history.history(ledger.parentId, 's', { limit: 0 })).rejects.toBeInstanceOf(
      ProjectionQueryError,
    );
    await expect(history.history(ledger.parentId, 's', { limit: 5, cursor: 'bogus' })).rejects.toBeInstanceOf(
      ProjectionQueryError,
    );
  });

  it('gives the balance as of instants before, between, at and after events', async () => {
    const ledger = newParent(500, '2026-10-01T09:00:00.000Z')
      .createSubAccount('s', '2026-10-01T10:00:00.000Z')
      .allocate('s', 500, '2026-10-01T11:00:00.000Z')
      .use('s', 120, '2026-10-05T11:00:00.000Z')
      .returnCredits('s', 80, '2026-10-06T11:00:00.000Z');
    await runner.waitForPosition(await ledger.flush(), WAIT_MS);
    const at = async (instant: string) => {
      const balance = await balances.balanceAsOf(ledger.parentId, 's', new Date(instant));
      return [balance!.existed, balance!.quota, balance!.used, balance!.remaining];
    };

    expect(await at('2026-10-01T09:59:59.999Z')).toEqual([false, 0, 0, 0]);
    expect(await at('2026-10-01T10:00:00.000Z')).toEqual([true, 0, 0, 0]);
    expect(await at('2026-10-01T10:59:59.999Z')).toEqual([true, 0, 0, 0]);
    expect(await at('2026-10-01T11:00:00.000Z')).toEqual([true, 500, 0, 500]);
    expect(await at('2026-10-03T00:00:00.000Z')).toEqual([true, 500, 0, 500]);
    expect(await at('2026-10-05T11:00:00.000Z')).toEqual([true, 500, 120, 380]);
    expect(await at('2026-10-06T10:59:59.999Z')).toEqual([true, 500, 120, 380]);
    expect(await at('2030-01-01T00:00:00.000Z')).toEqual([true, 420, 120, 300]);
    expect(await balances.balanceAsOf(ledger.parentId, 'other', new Date())).toBeUndefined();
  });

  it('totals usage by sub-account, meter and UTC day of occurredAt', async () => {
    const ledger = newParent(2_000, '2026-10-01T00:00:00.000Z')
      .createSubAccount('a', '2026-10-01T00:00:00.000Z')
      .createSubAccount('b', '2026-10-01T00:00:00.000Z')
      .allocate('a', 1_000, '2026-10-01T00:00:00.000Z')
      .allocate('b', 1_000, '2026-10-01T00:00:00.000Z')
      // Recorded on the 3rd, but it happened late on the 1st: analytics go by occurredAt.
      .use('a', 10, '2026-10-03T00:10:00.000Z', { meter: 'images', occurredAt: '2026-10-01T23:59:59.999Z' })
      .use('a', 20, '2026-10-03T00:10:00.000Z', { meter: 'video', occurredAt: '2026-10-02T00:00:00.000Z' })
      .use('b', 5, '2026-10-03T00:10:00.000Z', { meter: 'images', occurredAt: '2026-10-02T13:00:00.000Z' })
      .use('b', 7, '2026-10-03T00:10:00.000Z', { meter: 'images', occurredAt: '2026-10-03T00:00:00.000Z' });
    await runner.waitForPosition(await ledger.flush(), WAIT_MS);

    const all = await usage.usage(ledger.parentId, { groupBy: ['subAccount'] });
    expect(all.groups).toEqual([
      { key: 'a', subAccountId: 'a', credits: 30, records: 2 },
      { key: 'b', subAccountId: 'b', credits: 12, records: 2 },
    ]);
    expect(all.total).toEqual({ credits: 42, records: 4 });

    const range = { from: new Date('2026-10-02T00:00:00Z'), to: new Date('2026-10-03T00:00:00Z') };
    expect((await usage.usage(ledger.parentId, { ...range, groupBy: ['meter'] })).groups).toEqual([
      { key: 'images', meter: 'images', credits: 5, records: 1 },
      { key: 'video', meter: 'video', credits: 20, records: 1 },
    ]);
    expect((await usage.usage(ledger.parentId, { groupBy: ['day'] })).groups).toEqual([
      { key: '2026-10-01', day: '2026-10-01', credits: 10, records: 1 },
      { key: '2026-10-02', day: '2026-10-02', credits: 25, records: 2 },
      { key: '2026-10-03', day: '2026-10-03', credits: 7, records: 1 },
    ]);
    await expect(
      usage.usage(ledger.parentId, { from: new Date('2026-10-02T01:00:00Z'), groupBy: ['day'] }),
    ).rejects.toBeInstanceOf(ProjectionQueryError);
    expect((await usage.usage(`none-${randomUUID()}`, { groupBy: ['meter'] })).total).toEqual({
      credits: 0,
      records: 0,
    });
  });

  it('ignores snapshot streams and other categories', async () => {
    const ledger = newParent(200, '2026-10-01T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .allocate('s', 10, '2026-10-01T00:00:00.000Z');
    await ledger.flush();
    // Real ledger events of the same parent and sub-account (its twin allocated 99, not 10), written to
    // streams that are not `ledger-`: none of them may reach a read model.
    const twin = new LedgerWriter(store.client, ledger.parentId)
      .open('2026-10-01T00:00:00.000Z')
      .purchase(200, '2026-10-01T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .allocate('s', 99, '2026-10-01T00:00:01.000Z')
      .use('s', 50, '2026-10-01T00:00:01.000Z')
      .take();
    await store.client.appendToStream(`ledgersnapshot-${ledger.parentId}`, twin);
    await store.client.appendToStream(
      `billing-${ledger.parentId}`,
      twin.map((event) => ({ ...event, id: randomUUID() })),
    );
    const last = await ledger.use('s', 1, '2026-10-01T00:00:02.000Z').flush();
    await runner.waitForPosition(last, WAIT_MS);

    const page = await history.history(ledger.parentId, 's', { limit: 10 });
    expect(page!.entries.map((e) => e.credits)).toEqual([0, 10, 1]);
    const balance = await balances.balanceAsOf(ledger.parentId, 's', new Date('2030-01-01T00:00:00Z'));
    expect(balance).toMatchObject({ quota: 10, used: 1 });

    // A projection keys a parent by its stream's name, so an event of another category that got through
    // would land under a parent named after that stream, not under this one: no read model may know any
    // parent but this one whose name contains its id. Checked on the live runner (the subscription's
    // server-side filter) and on one started now in a database of its own, which catches up by reading
    // $all (the client-side one).
    const readerDatabase = await openTestDatabase();
    const reader = new ProjectionRunner({
      client: store.client,
      projections: PROJECTIONS,
      database: readerDatabase,
      catchUpByReading: true,
    });
    await reader.start();
    try {
      await reader.waitForPosition(last, WAIT_MS);
      for (const db of [database, readerDatabase]) {
        for (const [table, column] of [
          ['credit_entries_v2', 'parent_id'],
          ['usage_daily_v1', 'parent_id'],
        ]) {
          const { rows } = await db.pool.query<{ parent: string }>(
            `SELECT DISTINCT ${column} AS parent FROM ${table} WHERE ${column} LIKE $1`,
            [`%${ledger.parentId}%`],
          );
          expect([table, rows.map((row) => row.parent)]).toEqual([
            table,
            table === 'usage_daily_v1' ? expect.any(Array) : [ledger.parentId],
          ]);
          for (const row of rows) expect(row.parent).toBe(ledger.parentId);
        }
      }
    } finally {
      await reader.stop();
      await readerDatabase.close();
    }
  });

  it('passes over an event of a type this build does not know, and reaches the events after it', async () => {
    const ledger = newParent(10, '2026-10-01T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .allocate('s', 10, '2026-10-01T00:00:00.000Z');
    await ledger.flush();
    // A newer writer's event, with the data of a usage record: no projection may take it for one.
    await store.client.appendToStream(
      `ledger-${ledger.parentId}`,
      jsonEvent({
        type: 'UsageReclassified',
        data: { subAccountId: 's', credits: 4, meter: 'images', occurredAt: '2026-10-01T00:00:00.000Z' },
        metadata: { recordedAt: '2026-10-01T00:00:01.000Z' },
      }),
    );
    const last = await ledger.use('s', 1, '2026-10-01T00:00:02.000Z').flush();
    await runner.waitForPosition(last, WAIT_MS);

    const page = await history.history(ledger.parentId, 's', { limit: 10 });
    expect(page!.entries.map((e) => e.type)).toEqual([
      'SubAccountCreated',
      'QuotaAllocated',
      'UsageRecorded',
    ]);
    const balance = await balances.balanceAsOf(ledger.parentId, 's', new Date('2030-01-01T00:00:00Z'));
    expect(balance).toMatchObject({ quota: 10, used: 1 });
    expect((await usage.usage(ledger.parentId, { groupBy: ['meter'] })).total).toEqual({
      credits: 1,
      records: 1,
    });
  });

  it('waitForPosition resolves only once the appended event is applied, and times out otherwise', async () => {
    const ledger = newParent(10, '2026-10-01T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .allocate('s', 10, '2026-10-01T00:00:00.000Z');
    const position = await ledger.flush();
    await runner.waitForPosition(position, WAIT_MS);
    // Right after the wait, a read sees the write without any further waiting.
    const balance = await balances.balanceAsOf(ledger.parentId, 's', new Date('2030-01-01T00:00:00Z'));
    expect(balance).toMatchObject({ quota: 10 });
    const beyond = position + 1_000_000_000n;
    await expect(runner.waitForPosition(beyond, 50)).rejects.toMatchObject({ code: 'projection_lagging' });
  });
});
