import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Database, ensureDatabase, withDatabase } from '../../src/database/database';

/** Set by test/support/global-setup.ts: the PostgreSQL server every suite of this jest run shares. */
export const TEST_PG_ADMIN_URL_ENV = 'SUBLEDGER_TEST_PG_ADMIN_URL';

/**
 * A database of its own on the run's PostgreSQL server (the embedded one jest started, or the server at
 * DATABASE_URL), made if missing. Given a key (a data folder, an event store's address), the same key
 * gives the same database, so a service restarted over the same data finds its read models again and
 * two instances on one store share theirs; without one, a fresh database every time.
 */
export async function testDatabaseUrl(key?: string): Promise<string> {
  const admin = process.env[TEST_PG_ADMIN_URL_ENV];
  if (!admin)
    throw new Error(`${TEST_PG_ADMIN_URL_ENV} is not set: run the tests through jest (its globalSetup)`);
  const name =
    key === undefined
      ? `t_${randomBytes(8).toString('hex')}`
      : `t_${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
  await ensureDatabase(admin, name);
  return withDatabase(admin, name);
}

/** A `Database` (pool, migrations applied) on a test database: `testDatabaseUrl(key)`'s. */
export async function openTestDatabase(key?: string): Promise<Database> {
  return Database.open({ kind: 'external', url: await testDatabaseUrl(key) });
}

/**
 * A fresh temporary folder for a service's or an embedded PostgreSQL's data. Under root the embedded
 * PostgreSQL runs as the postgres user, which must be able to enter it: mkdtemp's 0700 is opened to 0755.
 */
export function makeDataDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}
