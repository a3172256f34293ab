import { Database } from '../../database/database';
import type { UsageKeyIndex, UsageKeyRef } from '../../ledger/application/usage-key-index';
import { usageKeyOf, type UsageKeyLookup, type UsageReceipt } from '../../ledger/domain';
import { USAGE_KEY_HEADS_TABLE, USAGE_KEY_RETENTION_HOURS, USAGE_KEYS_TABLE } from './usage-keys.projection';

type LookupRow = {
  head: string | null;
  sub_account_id: string | null;
  idempotency_key: string | null;
  usage_id: string | null;
  fingerprint: string | null;
  remaining: string | null;
  recorded_at: Date | null;
  revision: string | null;
};

/**
 * The write side's lookup in the index: one statement per batch, so the parent's head and its rows
 * come from one committed state of the tables (a head newer than the rows it read would let a key
 * indexed in between be missed by both the lookup and the memory that dropped it).
 */
export class PgUsageKeyIndex implements UsageKeyIndex {
  constructor(private readonly database: Database) {}

  async lookup(parentId: string, keys: readonly UsageKeyRef[]): Promise<UsageKeyLookup> {
    const { rows } = await this.database.pool.query<LookupRow>(
      `SELECT (SELECT revision FROM ${USAGE_KEY_HEADS_TABLE} WHERE parent_id = $1) AS head,
              k.sub_account_id, k.idempotency_key, k.usage_id, k.fingerprint, k.remaining,
              k.recorded_at, k.revision
       FROM (SELECT 1) AS one
       LEFT JOIN ${USAGE_KEYS_TABLE} k
         ON k.parent_id = $1
        AND (k.sub_account_id, k.idempotency_key) IN (SELECT * FROM unnest($2::text[], $3::text[]))
        -- Expired keys leave the table in periodic sweeps (usage-keys.projection.ts); until then the
        -- lookup leaves them out by the same rule.
        AND k.recorded_at > (SELECT latest_recorded_at FROM ${USAGE_KEY_HEADS_TABLE} WHERE parent_id = $1)
                            - make_interval(hours => $4)`,
      [
        parentId,
        keys.map((key) => key.subAccountId),
        keys.map((key) => key.idempotencyKey),
        USAGE_KEY_RETENTION_HOURS,
      ],
    );
    const receipts = new Map<string, UsageReceipt>();
    let indexedThrough = -1;
    for (const row of rows) {
      if (row.head !== null) indexedThrough = Number(row.head);
      if (row.sub_account_id === null || row.idempotency_key === null) continue;
      receipts.set(usageKeyOf(row.sub_account_id, row.idempotency_key), {
        subAccountId: row.sub_account_id,
        idempotencyKey: row.idempotency_key,
        usageId: row.usage_id!,
        fingerprint: row.fingerprint!,
        remaining: Number(row.remaining),
        recordedAtMs: row.recorded_at!.getTime(),
        revision: Number(row.revision),
      });
    }
    return { indexedThrough, receipts };
  }
}
