import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/database/embedded-postgres';
import { TEST_PG_ADMIN_URL_ENV } from './database';

declare global {
  var subledgerTestPostgres: { server: RunningPostgres; dir: string } | undefined;
}

/**
 * One PostgreSQL server for the whole jest run: the one at DATABASE_URL when it is set (CI's second
 * pass, against Debian's own PostgreSQL), else an embedded one in a temporary folder. Each service a
 * test starts gets a database of its own on it (test/support/database.ts). Workers inherit the
 * variable set here.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env[TEST_PG_ADMIN_URL_ENV] = process.env.DATABASE_URL;
    return;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'subledger-jest-pg-'));
  await fs.chmod(dir, 0o755);
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres') });
  globalThis.subledgerTestPostgres = { server, dir };
  process.env[TEST_PG_ADMIN_URL_ENV] = server.adminUrl;
}
