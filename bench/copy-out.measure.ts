/*
 * One-off measurement (decision 88): what taking a usage report's rows off the connection costs the
 * API's thread. Fills a fresh embedded PostgreSQL with GROUPS rows shaped like a report by sub-account
 * (an id, credits, records), then copies them out (`COPY … TO STDOUT`) alternately through
 * `pg-copy-streams` (its stream, iterated and copied into one buffer, as `copyOut` did before) and
 * through `copyOut`, ROUNDS times each; prints the median and lowest wall time and CPU time of this
 * process for each, and checks that both answered the same bytes.
 *
 *   node -r ts-node/register/transpile-only bench/copy-out.measure.ts [--groups 100000] [--rounds 20]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { CopyBuffers, copyOut } from '../src/database/copy-rows';
import { Database } from '../src/database/database';

const { values } = parseArgs({
  options: {
    groups: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '20' },
  },
});
const GROUPS = Number(values.groups);
const ROUNDS = Number(values.rounds);
const SQL = 'COPY (SELECT id, credits, records FROM report ORDER BY id COLLATE "C") TO STDOUT';

/** The copy as `pg-copy-streams` hands it over: a stream of buffers, copied into one kept buffer. */
async function throughStream(client: PoolClient, buffers: CopyBuffers): Promise<Buffer> {
  let target = buffers.take();
  let used = 0;
  for await (const chunk of client.query(copyTo(SQL)) as AsyncIterable<Buffer>) {
    if (used + chunk.length > target.length) target = buffers.larger(target, used, used + chunk.length);
    used += chunk.copy(target, used);
  }
  return target.subarray(0, used);
}

async function timed(run: () => Promise<Buffer>, buffers: CopyBuffers) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const rows = await run();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const copy = Buffer.from(rows);
  buffers.give(rows);
  return { wallMs, cpuMs: (used.user + used.system) / 1000, rows: copy };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[]) => `median ${median(xs).toFixed(1)} ms (lowest ${Math.min(...xs).toFixed(1)})`;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'subledger-copy-out-'));
  chmodSync(dataDir, 0o755);
  const database = await Database.open({ kind: 'embedded', dataDir: path.join(dataDir, 'postgres') });
  const client = await database.pool.connect();
  try {
    await client.query('CREATE TABLE report (id text COLLATE "C", credits numeric, records numeric)');
    await client.query(
      `INSERT INTO report SELECT 'sub-' || lpad(g::text, 7, '0'), g * 7 % 1000, g % 13 + 1
       FROM generate_series(1, $1::int) g`,
      [GROUPS],
    );
    await client.query('VACUUM ANALYZE report');
    const buffers = new CopyBuffers(24 * 1024 * 1024);
    const figures = {
      stream: { wall: [] as number[], cpu: [] as number[] },
      copyOut: { wall: [] as number[], cpu: [] as number[] },
    };
    for (let round = 0; round < ROUNDS + 2; round++) {
      const a = await timed(() => throughStream(client, buffers), buffers);
      const b = await timed(() => copyOut(client, SQL, buffers), buffers);
      if (!a.rows.equals(b.rows)) throw new Error('the two copies answered different bytes');
      if (round < 2) continue; // warm-up
      figures.stream.wall.push(a.wallMs);
      figures.stream.cpu.push(a.cpuMs);
      figures.copyOut.wall.push(b.wallMs);
      figures.copyOut.cpu.push(b.cpuMs);
    }
    console.log(`${GROUPS} rows copied out, ${ROUNDS} rounds alternated, the same bytes each time`);
    for (const [name, { wall, cpu }] of Object.entries(figures)) {
      console.log(`${name.padEnd(8)} wall ${fmt(wall)}, this process's CPU ${fmt(cpu)}`);
    }
  } finally {
    client.release();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main();
