import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Pool, type PoolClient } from 'pg';
import { runner as runMigrations } from 'node-pg-migrate';
import type { DatabaseSettings } from '../config/app-config';
import { copyOut, type CopyBuffers } from './copy-rows';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded-postgres';

/**
 * The versioned schema (node-pg-migrate, SQL files): `migrations/` at the top of the project, found
 * upwards from here, so src/ (ts-node), dist/ and a build elsewhere inside the checkout (the bench's)
 * all reach the one folder.
 */
export const MIGRATIONS_DIR = findUpwards(__dirname, 'migrations');

function findUpwards(from: string, name: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(from, '..', '..', name);
  }
}
const MIGRATIONS_TABLE = 'schema_migrations';
/** The database the embedded server keeps the read side in. */
const EMBEDDED_DATABASE = 'subledger';

export interface DatabaseLogger {
  log(message: string): void;
}

/**
 * The read side's PostgreSQL: a pool on the configured server (or on the embedded one, started here),
 * with every migration applied. `close` ends the pool and, for an embedded server this process owns,
 * stops it.
 */
export class Database {
  private constructor(
    readonly pool: Pool,
    /** Where it is, without the password: for logs and errors. */
    readonly location: string,
    /** Where it is, password included: for a projector thread of this process that opens its own pool. */
    readonly url: string,
    private readonly embedded: RunningPostgres | undefined,
    private readonly temporaryDir: string | undefined,
  ) {}

  static async open(
    settings: DatabaseSettings,
    logger: DatabaseLogger = { log: () => {} },
  ): Promise<Database> {
    let url: string;
    let embedded: RunningPostgres | undefined;
    let temporaryDir: string | undefined;
    if (settings.kind === 'external') {
      url = settings.url;
    } else {
      let dataDir = settings.dataDir;
      if (dataDir === undefined) {
        temporaryDir = await fs.mkdtemp(path.join(os.tmpdir(), 'subledger-pg-'));
        await fs.chmod(temporaryDir, 0o755);
        dataDir = path.join(temporaryDir, 'postgres');
      }
      embedded = await startEmbeddedPostgres({ dataDir, log: (message) => logger.log(message) });
      await ensureDatabase(embedded.adminUrl, EMBEDDED_DATABASE);
      url = withDatabase(embedded.adminUrl, EMBEDDED_DATABASE);
    }
    await migrate(url);
    const pool = new Pool({ connectionString: url, max: 8, application_name: 'subledger' });
    // An idle client's error (the server restarted) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    return new Database(pool, redact(url), url, embedded, temporaryDir);
  }

  /**
   * `VACUUM (ANALYZE)` of each table, one after the other, outside any transaction (VACUUM cannot run in
   * one): what PostgreSQL's documentation advises after a bulk load. The visibility map and hint bits
   * get set once, by this, instead of by the first reads (which then write) or by an autovacuum that
   * arrives while the tables serve, and the planner gets statistics of the loaded rows.
   */
  async vacuumAnalyze(tables: readonly string[], signal?: AbortSignal): Promise<void> {
    const client = await this.pool.connect();
    // Stopping cancels the statement running (from another connection: this one is busy with it).
    const cancel = () =>
      void this.pool
        .query('SELECT pg_cancel_backend($1)', [(client as unknown as { processID: number }).processID])
        .catch(() => undefined);
    signal?.addEventListener('abort', cancel);
    try {
      for (const table of tables) {
        if (signal?.aborted) throw new Error('stopped');
        await client.query(`VACUUM (ANALYZE) ${table}`);
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
      client.release();
    }
  }

  /** Runs `work` in one transaction on one connection: committed if it returns, rolled back if it throws. */
  async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Runs `work` on `connections` connections of their own, all on one snapshot: the first
   * connection's read-only repeatable-read transaction exports it (`pg_export_snapshot`) and the others
   * take it (`SET TRANSACTION SNAPSHOT`) before anything is read, so whatever `work` runs on them side
   * by side answers as one statement would, whatever commits meanwhile. `afterSnapshot` runs once every
   * connection holds the snapshot, before `work` (tests commit something there). Connections that
   * failed halfway are dropped rather than handed back in an unknown state.
   */
  async onOneSnapshot<T>(
    connections: number,
    work: (clients: readonly PoolClient[]) => Promise<T>,
    afterSnapshot?: () => Promise<void>,
  ): Promise<T> {
    const clients: PoolClient[] = [];
    let failed = false;
    try {
      for (let n = 0; n < connections; n++) clients.push(await this.pool.connect());
      const [first, ...others] = clients;
      await first.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows } = await first.query<{ snapshot: string }>('SELECT pg_export_snapshot() AS snapshot');
      const snapshot = rows[0].snapshot;
      if (!/^[0-9A-F-]+$/i.test(snapshot)) throw new Error(`unexpected snapshot id ${snapshot}`);
      await Promise.all(
        others.map((client) =>
          client.query(
            `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '${snapshot}'`,
          ),
        ),
      );
      await afterSnapshot?.();
      const result = await work(clients);
      await Promise.all(clients.map((client) => client.query('COMMIT')));
      return result;
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      for (const client of clients) client.release(failed);
    }
  }

  /** `COPY (…) TO STDOUT` on a connection of the pool: what the server sent (copy-rows.ts `copyOut`). */
  async copyOut(sql: string, buffers?: CopyBuffers): Promise<Buffer> {
    const client = await this.pool.connect();
    let failed = false;
    try {
      return await copyOut(client, sql, buffers);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      client.release(failed);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
    if (this.embedded?.owned) await this.embedded.stop();
    if (this.temporaryDir) await fs.rm(this.temporaryDir, { recursive: true, force: true });
  }
}

/**
 * node-pg-migrate's own advisory lock (this key) is a try-lock: a second instance starting beside the
 * first fails with "Another migration is already running". So the lock is taken here with the blocking
 * `pg_advisory_lock` on the key node-pg-migrate uses (its CLI, run by hand, still excludes us), and the
 * runner goes without its own: racing instances wait for the first to finish, then find nothing to do.
 */
const MIGRATION_LOCK_KEY = '7241865325823964';

/** Applies every migration not applied yet; instances starting together wait for each other. */
export async function migrate(url: string): Promise<void> {
  const client = new Client({ connectionString: url, application_name: 'subledger-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await runMigrations({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      direction: 'up',
      count: Infinity,
      checkOrder: true,
      singleTransaction: true,
      noLock: true,
      log: () => {},
      verbose: false,
    });
  } finally {
    // Ending the session releases the advisory lock too, also when a migration failed.
    await client.end();
  }
}

export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${quoteIdentifier(name)}`).catch((error: { code?: string }) => {
        // Another instance made it first.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
