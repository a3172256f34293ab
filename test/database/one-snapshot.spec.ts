import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';

/*
 * Database.onOneSnapshot: queries side by side on several connections that must answer as one
 * statement would. A row committed after the snapshot was taken is seen by none of them.
 */
describe('reading on one snapshot from several connections', () => {
  let database: Database;

  beforeAll(async () => {
    database = await openTestDatabase();
    await database.pool.query('CREATE TABLE one_snapshot_rows (n int PRIMARY KEY)');
    await database.pool.query('INSERT INTO one_snapshot_rows SELECT generate_series(1, 10)');
  });

  afterAll(() => database?.close());

  it('every query sees the rows as they were when the first connection took the snapshot', async () => {
    const count = { text: 'SELECT count(*)::int AS n FROM one_snapshot_rows', values: [] };
    const sum = {
      text: 'SELECT coalesce(sum(n), 0)::int AS n FROM one_snapshot_rows WHERE n > $1',
      values: [5],
    };
    const queries = [count, sum, count];
    const answers = await database.onOneSnapshot(
      queries.length,
      (clients) =>
        Promise.all(queries.map((query, n) => clients[n].query<{ n: number }>(query.text, query.values))),
      async () => {
        // Committed on a connection of its own once every query's connection holds the snapshot.
        await database.pool.query('INSERT INTO one_snapshot_rows VALUES (11), (12)');
      },
    );
    expect(answers.map((answer) => answer.rows[0].n)).toEqual([10, 6 + 7 + 8 + 9 + 10, 10]);
    // The rows were committed: a query after it sees them.
    const after = await database.pool.query<{ n: number }>(count.text);
    expect(after.rows[0].n).toBe(12);
  });

  it('fails with the query that failed and gives every connection back', async () => {
    const idleBefore = database.pool.totalCount - database.pool.idleCount;
    await expect(
      database.onOneSnapshot(2, ([one, other]) =>
        Promise.all([one.query('SELECT 1'), other.query('SELECT * FROM no_such_table_here')]),
      ),
    ).rejects.toThrow(/no_such_table_here/);
    expect(database.pool.totalCount - database.pool.idleCount).toBe(idleBefore);
    // The pool still answers.
    const { rows } = await database.pool.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0].one).toBe(1);
  });

  it('copies out what the server sent, and gives the connection back when the copy fails halfway', async () => {
    const copied = await database.copyOut(
      'COPY (SELECT n, n * 2 FROM one_snapshot_rows WHERE n <= 3 ORDER BY n) TO STDOUT',
    );
    expect(copied.toString()).toBe('1\t2\n2\t4\n3\t6\n');
    const busyBefore = database.pool.totalCount - database.pool.idleCount;
    // Rows go out before the division by zero: the error comes in the middle of the copy.
    await expect(
      database.copyOut('COPY (SELECT 1 / (n - 2000) FROM generate_series(1, 5000) AS n) TO STDOUT'),
    ).rejects.toThrow(/division by zero/);
    expect(database.pool.totalCount - database.pool.idleCount).toBe(busyBefore);
    const { rows } = await database.pool.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0].one).toBe(1);
  });
});
