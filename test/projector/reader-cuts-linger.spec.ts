import { PROJECTIONS, ProjectionRunner } from '../../src/projections';
import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { LedgerWriter } from '../projections/ledger-writer';

/**
 * A live batch lingers for more events before it commits (50 ms in the projector thread), but a reader
 * waiting for its write must not wait for the linger: asking for a position commits at once.
 */
describe('a reader waiting for a position', () => {
  let store: TestEventStore;
  let database: Database;
  let runner: ProjectionRunner;

  beforeAll(async () => {
    store = await startTestEventStore();
    database = await openTestDatabase();
    // A linger far longer than the wait below: only `want` can commit the batch in time.
    runner = new ProjectionRunner({
      client: store.client,
      projections: PROJECTIONS,
      database,
      lingerMs: 600_000,
    });
    await runner.start();
    await runner.whenCaughtUp(30_000);
  });

  afterAll(async () => {
    await runner.stop({ commit: false });
    await database.close();
    await store.stop();
  });

  it('cuts the batch linger short', async () => {
    const position = await new LedgerWriter(store.client, 'plinger')
      .open('2026-10-01T00:00:00.000Z')
      .purchase(50, '2026-10-01T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .flush();
    await runner.waitForPosition(position, 30_000);
    const { rows } = await database.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM credit_entries WHERE parent_id = 'plinger'`,
    );
    expect(Number(rows[0].n)).toBeGreaterThan(0);
  });
});
