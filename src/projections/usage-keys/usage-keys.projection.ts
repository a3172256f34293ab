import type { PoolClient } from 'pg';
import { arrayLiteral } from '../../database/array-literal';
import { USAGE_KEY_RETENTION_MS } from '../../ledger/domain';
import { parentIdOfStream, type Projection, type RecordedEnvelope } from '../projection';

/** The tables of the current version; `usage_keys` and `usage_key_heads` are the stable views. */
export const USAGE_KEYS_TABLE = 'usage_keys_v1';
export const USAGE_KEY_HEADS_TABLE = 'usage_key_heads_v1';

/** Rule 5's 35 days, in hours: `interval '35 days'` on a timestamptz would follow the session's DST. */
export const USAGE_KEY_RETENTION_HOURS = USAGE_KEY_RETENTION_MS / 3_600_000;
/**
 * How often a process sweeps expired keys out of the table: one scan of it, instead of an index on
 * (parent_id, recorded_at) kept up by every insert (about a sixth of the index's cost per usage here).
 */
const SWEEP_EVERY_MS = 10 * 60_000;

type KeyRow = {
  parent: string;
  sub: string;
  key: string;
  usageId: string;
  fingerprint: string;
  remaining: number;
  recordedAt: string;
  revision: bigint;
};

/** Per parent, the revision indexed through and the newest usage recordedAt indexed. */
export type Head = { revision: bigint; latestRecordedAtMs: number };

/** The head of `event`'s parent in this batch, moved to its revision. */
export function headOf(heads: Map<string, Head>, event: RecordedEnvelope): Head {
  const parent = parentIdOfStream(event.streamName);
  let head = heads.get(parent);
  if (!head) {
    head = { revision: event.revision, latestRecordedAtMs: Number.NEGATIVE_INFINITY };
    heads.set(parent, head);
  }
  if (event.revision > head.revision) head.revision = event.revision;
  return head;
}

/** The batch's heads into `headsTable`, never moving one back (racing writers, a batch replayed). */
export async function writeHeads(
  client: PoolClient,
  headsTable: string,
  heads: Map<string, Head>,
): Promise<void> {
  const parents = [...heads.keys()];
  const headRows = [...heads.values()];
  await client.query(
    `INSERT INTO ${headsTable} AS h (parent_id, revision, latest_recorded_at)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[])
     ON CONFLICT (parent_id) DO UPDATE
       SET revision = GREATEST(h.revision, EXCLUDED.revision),
           latest_recorded_at = GREATEST(h.latest_recorded_at, EXCLUDED.latest_recorded_at)`,
    [
      arrayLiteral(parents),
      arrayLiteral(headRows.map((head) => head.revision.toString())),
      arrayLiteral(
        headRows.map((head) =>
          Number.isFinite(head.latestRecordedAtMs) ? new Date(head.latestRecordedAtMs).toISOString() : null,
        ),
      ),
    ],
  );
}

/**
 * The idempotency-key index: the newest receipt of each usage key, and per parent the revision of its
 * stream indexed through, committed with the runner's checkpoint in one transaction. Keys leave the
 * index once 35 days older than the newest recording indexed for their parent (the ledger's clock, not
 * the database's: SUBLEDGER_NOW may run it anywhere), which decide treats as expired anyway. The write
 * side asks it through `PgUsageKeyIndex`.
 */
export const usageKeysProjection: Projection = usageKeysInto(USAGE_KEYS_TABLE, USAGE_KEY_HEADS_TABLE, 1);

export function usageKeysInto(keysTable: string, headsTable: string, version: number): Projection {
  let lastSweepAt = Number.NEGATIVE_INFINITY;
  return {
    name: 'usage-keys',
    version,
    tables: [keysTable, headsTable],
    async write(client: PoolClient, events: readonly RecordedEnvelope[]): Promise<void> {
      const rows = new Map<string, KeyRow>();
      const heads = new Map<string, Head>();
      for (const event of events) {
        const head = headOf(heads, event);
        if (event.type !== 'UsageRecorded') continue;
        const parent = parentIdOfStream(event.streamName);
        const { subAccountId, idempotencyKey, usageId, fingerprint, recordedAt, balancesAfter } = event.data;
        const recordedAtMs = Date.parse(recordedAt);
        if (recordedAtMs > head.latestRecordedAtMs) head.latestRecordedAtMs = recordedAtMs;
        // One row per key and batch (an upsert may not touch a row twice): the newest receipt, as a key
        // reused after it expired replaces the old one.
        rows.set(`${parent}\u0000${subAccountId}\u0000${idempotencyKey}`, {
          parent,
          sub: subAccountId,
          key: idempotencyKey,
          usageId,
          fingerprint,
          remaining: balancesAfter.subAccount.remaining,
          recordedAt: new Date(recordedAtMs).toISOString(),
          revision: event.revision,
        });
      }
      if (rows.size > 0) {
        const keyRows = [...rows.values()];
        await client.query(
          `INSERT INTO ${keysTable} AS k
             (parent_id, sub_account_id, idempotency_key, usage_id, fingerprint, remaining, recorded_at, revision)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                                $7::timestamptz[], $8::bigint[])
           ON CONFLICT (parent_id, sub_account_id, idempotency_key) DO UPDATE
             SET usage_id = EXCLUDED.usage_id, fingerprint = EXCLUDED.fingerprint,
                 remaining = EXCLUDED.remaining, recorded_at = EXCLUDED.recorded_at,
                 revision = EXCLUDED.revision
             WHERE k.revision < EXCLUDED.revision`,
          [
            arrayLiteral(keyRows.map((row) => row.parent)),
            arrayLiteral(keyRows.map((row) => row.sub)),
            arrayLiteral(keyRows.map((row) => row.key)),
            arrayLiteral(keyRows.map((row) => row.usageId)),
            arrayLiteral(keyRows.map((row) => row.fingerprint)),
            arrayLiteral(keyRows.map((row) => row.remaining)),
            arrayLiteral(keyRows.map((row) => row.recordedAt)),
            arrayLiteral(keyRows.map((row) => row.revision.toString())),
          ],
        );
      }
      if (heads.size === 0) return;
      await writeHeads(client, headsTable, heads);
      // Expiry: a sweep of the whole table every few minutes, by each parent's own clock (the lookup
      // already leaves expired keys out, so a key swept late is never taken for a live one).
      if (Date.now() - lastSweepAt < SWEEP_EVERY_MS) return;
      lastSweepAt = Date.now();
      await client.query(
        `DELETE FROM ${keysTable} k USING ${headsTable} h
         WHERE k.parent_id = h.parent_id
           AND k.recorded_at <= h.latest_recorded_at - make_interval(hours => $1)`,
        [USAGE_KEY_RETENTION_HOURS],
      );
    },
  };
}
