import { PROJECTIONS } from '../../src/projections';
import { ProjectorThread } from '../../src/projections/projector/projector-thread';
import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { LedgerWriter } from '../projections/ledger-writer';

const WAIT_MS = 30_000;

const quietLogger = () => {
  const lines: string[] = [];
  return { lines, log: () => {}, warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
};

/** The default projector: the runner in a worker thread, followed from this thread. */
describe('the projector thread', () => {
  let store: TestEventStore;
  let database: Database;

  beforeAll(async () => {
    store = await startTestEventStore();
    database = await openTestDatabase();
  });

  afterAll(async () => {
    await database.close();
    await store.stop();
  });

  it('projects in its own thread, reports the committed position and the status here, and commits on stop', async () => {
    const logger = quietLogger();
    const thread = new ProjectorThread({
      eventStoreConnectionString: store.connectionString,
      databaseUrl: database.url,
      projections: PROJECTIONS,
      logger,
    });
    await thread.start();
    try {
      await thread.whenCaughtUp(WAIT_MS);
      const position = await new LedgerWriter(store.client, 'pthread')
        .open('2026-10-01T00:00:00.000Z')
        .purchase(50, '2026-10-01T00:00:00.000Z')
        .createSubAccount('s', '2026-10-01T00:00:00.000Z')
        .allocate('s', 50, '2026-10-01T01:00:00.000Z')
        .flush();
      await thread.waitForPosition(position, WAIT_MS);
      // The rows were written by the thread's own pool, and this thread sees them committed.
      const { rows } = await database.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM credit_entries WHERE parent_id = 'pthread'`,
      );
      expect(Number(rows[0].n)).toBeGreaterThan(0);
      expect(thread.isCaughtUp()).toBe(true);
      for (const status of thread.status()) {
        expect(status.checkpoint?.commit).toBeGreaterThanOrEqual(position);
        expect(status.caughtUp).toBe(true);
      }
      await expect(thread.waitForPosition(position + 1_000_000n, 50)).rejects.toMatchObject({
        code: 'projection_lagging',
      });
    } finally {
      await thread.stop({ commit: true });
    }
    expect(logger.lines).toEqual([]);
  });

  it('rejects its start with the cause when the thread cannot reach its database', async () => {
    const thread = new ProjectorThread({
      eventStoreConnectionString: store.connectionString,
      databaseUrl: 'postgres://nobody:nothing@127.0.0.1:1/nowhere',
      projections: PROJECTIONS,
      logger: quietLogger(),
    });
    await expect(thread.start()).rejects.toThrow(/The projector thread could not start: .*ECONNREFUSED/);
    await thread.stop();
  });
});
