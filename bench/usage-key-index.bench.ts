/**
 * The cost of the idempotency-key index's lookup, the one statement the ledger sends per batch with
 * usage (`PgUsageKeyIndex.lookup`), against an index holding `--keys` keys of one parent (default
 * 300,000, about the 1M-event bench ledger's live keys). Prints the median and p99 per lookup for
 * batches of 1, 64 and 1,000 keys, half of them present. Starts an embedded PostgreSQL of its own in a
 * temporary folder, or uses DATABASE_URL.
 *
 *   npx ts-node --transpile-only bench/usage-key-index.bench.ts [--keys 300000] [--rounds 400]
 */
import { performance } from 'node:perf_hooks';
import { Database } from '../src/database/database';
import { PgUsageKeyIndex } from '../src/projections/usage-keys/pg-usage-key-index';
import { usageKeysProjection } from '../src/projections/usage-keys/usage-keys.projection';
import type { RecordedEnvelope } from '../src/projections/projection';
import { fmt, median } from './support/stats';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

async function main(): Promise<void> {
  const keys = option('--keys', 300_000);
  const rounds = option('--rounds', 400);
  const url = process.env.DATABASE_URL;
  const database = await Database.open(
    url ? { kind: 'external', url } : { kind: 'embedded', dataDir: undefined },
  );
  const parentId = `bench-${Date.now()}`;
  try {
    // Filled through the projection itself, in batches as the runner hands them over.
    const started = performance.now();
    const at = Date.parse('2026-10-01T00:00:00Z');
    for (let from = 0; from < keys; from += 4_000) {
      const events = Array.from({ length: Math.min(4_000, keys - from) }, (_, i) => {
        const n = from + i;
        return {
          type: 'UsageRecorded',
          streamName: `ledger-${parentId}`,
          revision: BigInt(n),
          data: {
            subAccountId: `s${n % 1_000}`,
            idempotencyKey: `key-${n}`,
            usageId: `u_${n.toString(36).padStart(20, '0')}`,
            fingerprint: 'abcdefghijklmnopqrstuv',
            recordedAt: new Date(at + n).toISOString(),
            balancesAfter: { subAccount: { quota: 1e9, used: n, remaining: 1e9 - n } },
          },
        } as unknown as RecordedEnvelope;
      });
      await database.transaction((client) => usageKeysProjection.write(client, events));
    }
    console.log(`indexed ${fmt(keys)} keys in ${fmt((performance.now() - started) / 1000, 1)} s`);
    const index = new PgUsageKeyIndex(database);
    for (const size of [1, 64, 1_000]) {
      const times: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const batch = Array.from({ length: size }, (_, i) => {
          // Half present (a repeat), half new.
          const n = i % 2 === 0 ? Math.floor(Math.random() * keys) : keys + round * size + i;
          return { subAccountId: `s${n % 1_000}`, idempotencyKey: `key-${n}` };
        });
        const t0 = performance.now();
        await index.lookup(parentId, batch);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      console.log(
        `lookup of ${fmt(size)} keys: median ${fmt(median(times), 2)} ms, p99 ${fmt(times[Math.floor(times.length * 0.99)], 2)} ms ` +
          `(${fmt((median(times) * 1000) / size, 1)} µs a key)`,
      );
    }
  } finally {
    await database.pool.query('DELETE FROM usage_keys_v1 WHERE parent_id = $1', [parentId]);
    await database.pool.query('DELETE FROM usage_key_heads_v1 WHERE parent_id = $1', [parentId]);
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
