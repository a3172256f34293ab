import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Client } from 'pg';
import { Database } from '../../src/database/database';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';
import { makeDataDir } from '../support/database';

const ROOT = path.resolve(__dirname, '..', '..');
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The server's pid from its postmaster.pid, or undefined when none runs on `dataDir`. */
function postmasterPid(dataDir: string): number | undefined {
  const file = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  return Number(readFileSync(file, 'utf8').split('\n')[0]);
}

async function rowsIn(url: string, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('the embedded PostgreSQL', () => {
  let dir: string;

  beforeEach(async () => {
    dir = makeDataDir('subledger-embedded-pg-');
  });

  afterEach(async () => {
    // Whatever a test left running on its folder is stopped, so no server outlives the suite.
    for (const sub of ['pg', 'data/postgres']) {
      const pid = postmasterPid(path.join(dir, sub));
      if (pid) {
        try {
          process.kill(pid, 'SIGINT');
        } catch {
          // already gone
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await rm(dir, { recursive: true, force: true });
  });

  it('initialises once, keeps its data across restarts, and stops with its owner', async () => {
    const dataDir = path.join(dir, 'pg');
    const first = await Database.open({ kind: 'embedded', dataDir });
    await first.pool.query('CREATE TABLE kept (n int)');
    await first.pool.query('INSERT INTO kept VALUES (42)');
    await first.close();
    expect(postmasterPid(dataDir)).toBeUndefined();

    const second = await Database.open({ kind: 'embedded', dataDir });
    try {
      expect((await second.pool.query('SELECT n FROM kept')).rows).toEqual([{ n: 42 }]);
      // Every migration ran, once.
      const applied = await second.pool.query('SELECT name FROM schema_migrations');
      expect(applied.rowCount).toBeGreaterThan(0);
      // Started with the settings it is given (read models are cached: index scans cost little).
      const { rows } = await second.pool.query('SHOW random_page_cost');
      expect(rows).toEqual([{ random_page_cost: '1.1' }]);
    } finally {
      await second.close();
    }
  });

  it('never initialises over a folder that holds files but no cluster, and clears what a cut-short initdb left', async () => {
    const dataDir = path.join(dir, 'pg');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'events.log'), 'not a cluster');
    await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(
      /holds files but no PostgreSQL cluster \(no PG_VERSION\)/,
    );
    expect(readFileSync(path.join(dataDir, 'events.log'), 'utf8')).toBe('not a cluster');

    // An initdb killed halfway left its folder beside an empty one: the next start clears it and initialises.
    await rm(dataDir, { recursive: true });
    await mkdir(dataDir);
    const unfinished = `${dataDir}.initdb-0badc0de`;
    await mkdir(unfinished);
    await writeFile(path.join(unfinished, 'PG_VERSION'), '17');
    const server = await startEmbeddedPostgres({ dataDir });
    try {
      expect(existsSync(unfinished)).toBe(false);
      expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
      expect(await rowsIn(server.adminUrl, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await server.stop();
    }
  });

  it('adopts the server a killed service left running, and joins one whose owner is alive', async () => {
    const dataDir = path.join(dir, 'pg');
    // A service that starts the server, writes a row and is killed -9: its server keeps running.
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        '-e',
        `const { Database } = require('./src/database/database');
         Database.open({ kind: 'embedded', dataDir: ${JSON.stringify(dataDir)} }).then(async (db) => {
           await db.pool.query('CREATE TABLE survivor (n int)');
           await db.pool.query('INSERT INTO survivor VALUES (7)');
           process.stdout.write('READY\\n');
         });`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('READY') && resolve());
      child.once('exit', (code) => reject(new Error(`the child exited with ${code} before it was ready`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const orphan = postmasterPid(dataDir);
    expect(orphan).toBeDefined();

    const adopted = await startEmbeddedPostgres({ dataDir });
    expect(adopted.owned).toBe(true);
    expect(postmasterPid(dataDir)).toBe(orphan);
    const url = adopted.adminUrl.replace(/\/postgres$/, '/subledger');
    expect(await rowsIn(url, 'SELECT n FROM survivor')).toEqual([{ n: 7 }]);

    // While its owner (this process) lives, another start joins without owning it.
    const ownerFile = `${dataDir}.owner`;
    const joinedBy = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        '-e',
        `require('./src/database/embedded-postgres').startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} })
           .then((pg) => process.stdout.write(JSON.stringify({ owned: pg.owned, port: pg.port })));`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    joinedBy.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await new Promise((resolve) => joinedBy.once('exit', resolve));
    expect(JSON.parse(output)).toEqual({ owned: false, port: adopted.port });
    expect(readFileSync(ownerFile, 'utf8')).toBe(String(process.pid));

    await adopted.stop();
    expect(postmasterPid(dataDir)).toBeUndefined();
  });

  (asRoot ? it : it.skip)(
    'as root, names the folder the postgres user cannot enter instead of failing in initdb',
    async () => {
      const closed = path.join(dir, 'closed');
      await mkdir(closed, { mode: 0o700 });
      await chmod(closed, 0o700);
      await expect(startEmbeddedPostgres({ dataDir: path.join(closed, 'data', 'postgres') })).rejects.toThrow(
        `cannot enter ${closed} (mode 700)`,
      );
      expect(existsSync(path.join(closed, 'data', 'postgres', 'PG_VERSION'))).toBe(false);
    },
  );
});
