import { randomUUID } from 'node:crypto';
import {
  ParentFeedService,
  PROJECTIONS,
  ProjectionRunner,
  SubAccountHistoryService,
  type FeedEvent,
  type SubAccountHistoryEntry,
} from '../../src/projections';
import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { LedgerWriter } from './ledger-writer';

const WAIT_MS = 15_000;

describe('history pagination and the parent feed', () => {
  let store: TestEventStore;
  let runner: ProjectionRunner;
  let database: Database;
  let history: SubAccountHistoryService;
  let feed: ParentFeedService;

  beforeAll(async () => {
    store = await startTestEventStore();
    database = await openTestDatabase();
    runner = new ProjectionRunner({ client: store.client, projections: PROJECTIONS, database });
    await runner.start();
    history = new SubAccountHistoryService(runner, database, { readTimeoutMs: WAIT_MS });
    feed = new ParentFeedService(store.client);
  });

  afterAll(async () => {
    await runner.stop();
    await database.close();
    await store.stop();
  });

  const newParent = () => new LedgerWriter(store.client, `p${randomUUID().replace(/-/g, '')}`);

  it('pages a sub-account trail in a stable order while events are appended between and during pages', async () => {
    const ledger = newParent()
      .open('2026-10-01T00:00:00.000Z')
      .purchase(20_000, '2026-10-01T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .createSubAccount('t', '2026-10-01T00:00:00.000Z')
      .allocate('s', 10_000, '2026-10-01T00:00:00.000Z')
      .allocate('t', 10_000, '2026-10-01T00:00:00.000Z');
    // Usage of s carries 1, 2, 3, … credits, interleaved with its sibling's, so order and gaps show.
    let credits = 0;
    const useBoth = (n: number) => {
      for (let i = 0; i < n; i++) {
        ledger.use('s', ++credits, '2026-10-02T00:00:00.000Z').use('t', 1, '2026-10-02T00:00:00.000Z');
      }
    };
    useBoth(23);
    await runner.waitForPosition(await ledger.flush(), WAIT_MS);

    const seen: SubAccountHistoryEntry[] = [];
    let page = await history.history(ledger.parentId, 's', { limit: 7 });
    seen.push(...page!.entries);
    while (page!.nextCursor !== null) {
      // Another writer appends while the next page is read.
      useBoth(2);
      const [next] = await Promise.all([
        history.history(ledger.parentId, 's', { limit: 7, cursor: page!.nextCursor }),
        ledger.flush().then((position) => runner.waitForPosition(position, WAIT_MS)),
      ]);
      page = next;
      seen.push(...page!.entries);
      if (credits > 60) break;
    }
    const usage = seen.filter((e) => e.type === 'UsageRecorded').map((e) => e.credits);
    // Strictly 1, 2, 3, …: nothing repeated, nothing skipped, in the order it was recorded.
    expect(usage).toEqual(Array.from({ length: usage.length }, (_, i) => i + 1));
    expect(seen.slice(0, 2).map((e) => e.type)).toEqual(['SubAccountCreated', 'QuotaAllocated']);
    const revisions = seen.map((e) => e.revision);
    expect([...revisions].sort((a, b) => a - b)).toEqual(revisions);

    // Whatever was appended meanwhile (all of it applied: each flush above was waited for) is found
    // after the last cursor, and nothing before it.
    const rest = await history.history(ledger.parentId, 's', { limit: 500, cursor: seen.at(-1)!.cursor });
    const after = rest!.entries.map((e) => e.credits);
    expect([...usage, ...after]).toEqual(Array.from({ length: credits }, (_, i) => i + 1));
  });

  it('pages the parent feed by stream revision and hides secret hashes', async () => {
    const ledger = newParent()
      .open('2026-10-01T00:00:00.000Z')
      .purchase(100, '2026-10-01T00:00:01.000Z')
      .createSubAccount('s', '2026-10-01T00:00:02.000Z')
      .issueKey('s', 'k1', 'sha256:HASH-OF-K1', '2026-10-01T00:00:03.000Z');
    await ledger.flush();
    const parentKey = [...ledger.state.apiKeys.values()].find((key) => key.subAccountId === null)!;

    // Opening a parent issues its key: the feed shows the key, never its secret hash.
    const first = await feed.page(ledger.parentId, { limit: 2 });
    expect(first.events.map((e) => [e.cursor, e.type])).toEqual([
      ['0', 'ParentAccountOpened'],
      ['1', 'ApiKeyIssued'],
    ]);
    expect(first.events[1].data).toEqual({
      keyId: parentKey.keyId,
      subAccountId: null,
      prefix: 'sl_p_test',
      issuedAt: '2026-10-01T00:00:00.000Z',
    });
    const second = await feed.page(ledger.parentId, { after: first.nextCursor!, limit: 10 });
    expect(second.events.map((e) => [e.cursor, e.type])).toEqual([
      ['2', 'CreditsPurchased'],
      ['3', 'SubAccountCreated'],
      ['4', 'ApiKeyIssued'],
    ]);
    expect(second.events[2].data).toEqual({
      keyId: 'k1',
      subAccountId: 's',
      prefix: 'sl_s_k1',
      issuedAt: '2026-10-01T00:00:03.000Z',
    });
    expect(JSON.stringify([first, second])).not.toContain('sha256:');
    expect(second.events[1].metadata).toMatchObject({ recordedAt: '2026-10-01T00:00:02.000Z' });
    const empty = await feed.page(ledger.parentId, { after: second.nextCursor!, limit: 10 });
    expect(empty).toEqual({ events: [], nextCursor: '4' });
    expect(await feed.page(`nobody-${randomUUID()}`, { limit: 10 })).toEqual({
      events: [],
      nextCursor: null,
    });
    await expect(feed.page(ledger.parentId, { after: '-1', limit: 10 })).rejects.toMatchObject({
      code: 'validation_failed',
    });
  });

  it('follows the parent feed live from a cursor until aborted', async () => {
    const ledger = newParent().open('2026-10-01T00:00:00.000Z').purchase(100, '2026-10-01T00:00:01.000Z');
    await ledger.flush();
    const abort = new AbortController();
    const received: FeedEvent[] = [];
    const following = (async () => {
      // After revision 1 (the parent's key): the purchase of 100 is the first event delivered.
      for await (const event of feed.live(ledger.parentId, { after: '1', signal: abort.signal })) {
        received.push(event);
        if (received.length === 1) {
          // Appended only once the catch-up part was delivered: these arrive live.
          await ledger
            .purchase(5, '2026-10-01T00:00:02.000Z')
            .purchase(6, '2026-10-01T00:00:03.000Z')
            .flush();
        }
        if (received.length === 3) abort.abort();
      }
    })();
    await following;
    expect(received.map((e) => [e.cursor, e.type, (e.data as { credits: number }).credits])).toEqual([
      ['2', 'CreditsPurchased', 100],
      ['3', 'CreditsPurchased', 5],
      ['4', 'CreditsPurchased', 6],
    ]);
  });
});
