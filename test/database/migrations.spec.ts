import { Client } from 'pg';
import { migrate } from '../../src/database/database';
import { testDatabaseUrl } from '../support/database';

/**
 * Instances started together on one database each run the migrations. node-pg-migrate's own lock is a
 * try-lock that failed the second one ("Another migration is already running", seen in CI with three
 * instances); they must wait for each other and all start.
 */
describe('migrations on one database from several instances at once', () => {
  it('all succeed, and every migration is applied exactly once', async () => {
    const url = await testDatabaseUrl();
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => migrate(url)));
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);

    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const applied = await client.query<{ name: string; n: string }>(
        'SELECT name, count(*) AS n FROM schema_migrations GROUP BY name ORDER BY name',
      );
      expect(applied.rows.length).toBeGreaterThan(0);
      expect(applied.rows.every((row) => row.n === '1')).toBe(true);
      const checkpoints = await client.query("SELECT to_regclass('read_model_checkpoints') AS t");
      expect(checkpoints.rows[0].t).toBe('read_model_checkpoints');
    } finally {
      await client.end();
    }
  });

  it('a second run over a migrated database changes nothing and succeeds', async () => {
    const url = await testDatabaseUrl();
    await migrate(url);
    await expect(migrate(url)).resolves.toBeUndefined();
  });
});
