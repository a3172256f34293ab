/*
 * One-off measurement (issue #14): what the reversible-usage projection adds to the projector's
 * transactions. Writes the same UsageRecorded envelopes (one parent, batches of BATCH, as the runner
 * hands them over live or catching up) through the usage-keys projection alone and through it plus the
 * reversible-usage projection, alternated ROUNDS times on a fresh embedded PostgreSQL, each batch in
 * one transaction; prints usage records per second of each.
 *
 *   node -r ts-node/register/transpile-only bench/reversible-usage-write.measure.ts [--records 50000] [--batch 500]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Database } from '../src/database/database';
import type { Projection, RecordedEnvelope } from '../src/projections/projection';
import { reversibleUsageProjection } from '../src/projections/usage-keys/reversible-usage.projection';
import { usageKeysProjection } from '../src/projections/usage-keys/usage-keys.projection';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
  },
});
const RECORDS = Number(values.records);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);
const START = Date.parse('2026-10-01T00:00:00Z');

function envelopes(parentId: string): RecordedEnvelope[] {
  return Array.from({ length: RECORDS }, (_, n) => {
    const recordedAt = new Date(START + n * 1_000).toISOString();
    return {
      type: 'UsageRecorded',
      streamName: `ledger-${parentId}`,
      revision: BigInt(n),
      data: {
        subAccountId: `s${n % 50}`,
        usageId: `u_${parentId}_${n.toString().padStart(24, '0')}`,
        idempotencyKey: `key-${n}`,
        credits: 1,
        meter: 'default',
        occurredAt: recordedAt,
        billingPeriod: '2026-10',
        late: false,
        fingerprint: 'f'.repeat(43),
        recordedAt,
        balancesAfter: { subAccount: { quota: 1e9, used: n, remaining: 1e9 - n } },
      },
    } as unknown as RecordedEnvelope;
  });
}

async function timed(
  database: Database,
  projections: Projection[],
  events: RecordedEnvelope[],
): Promise<number> {
  const started = performance.now();
  for (let from = 0; from < events.length; from += BATCH) {
    const batch = events.slice(from, from + BATCH);
    await database.transaction(async (client) => {
      for (const projection of projections) await projection.write(client, batch);
    });
  }
  return events.length / ((performance.now() - started) / 1_000);
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'subledger-reversible-write-'));
  chmodSync(dataDir, 0o755);
  const database = await Database.open({ kind: 'embedded', dataDir: path.join(dataDir, 'postgres') });
  const keysOnly: number[] = [];
  const both: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      keysOnly.push(await timed(database, [usageKeysProjection], envelopes(`k${round}`)));
      both.push(
        await timed(database, [usageKeysProjection, reversibleUsageProjection], envelopes(`b${round}`)),
      );
    }
  } finally {
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const rounded = (rates: number[]) => rates.map((rate) => Math.round(rate));
  console.log(
    JSON.stringify({ records: RECORDS, batch: BATCH, keysOnly: rounded(keysOnly), both: rounded(both) }),
  );
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
