import { Database } from '../../database/database';
import type { ReversalRef, ReversibleUsageIndex } from '../../ledger/application/reversible-usage-index';
import type {
  UsageKeyIndex,
  UsageKeyIndexAnswer,
  UsageKeyRef,
} from '../../ledger/application/usage-key-index';
import {
  reversalKeyOf,
  usageKeyOf,
  type ReversalReceipt,
  type ReversibleUsage,
  type ReversibleUsageLookup,
  type UsageReceipt,
} from '../../ledger/domain';
import {
  REVERSIBLE_USAGE_HEADS_TABLE,
  REVERSIBLE_USAGES_TABLE,
  USAGE_REVERSALS_TABLE,
} from './reversible-usage.projection';
import { USAGE_KEY_HEADS_TABLE, USAGE_KEY_RETENTION_HOURS, USAGE_KEYS_TABLE } from './usage-keys.projection';

type LookupRow = {
  head: string | null;
  reversible_head: string | null;
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
 * indexed in between be missed by both the lookup and the memory that dropped it). Each key asked is
 * one probe of the primary key: written as a join against the parent's rows, the planner, with
 * statistics from when the parent had few keys, scanned all of them on every lookup (5.4 ms at
 * 23,000 keys, growing with the parent; 0.7 ms as probes, at any size and any statistics).
 */
export class PgUsageKeyIndex implements UsageKeyIndex, ReversibleUsageIndex {
  constructor(private readonly database: Database) {}

  async lookup(parentId: string, keys: readonly UsageKeyRef[]): Promise<UsageKeyIndexAnswer> {
    const { rows } = await this.database.pool.query<LookupRow>(
      `SELECT (SELECT revision FROM ${USAGE_KEY_HEADS_TABLE} WHERE parent_id = $1) AS head,
              (SELECT revision FROM ${REVERSIBLE_USAGE_HEADS_TABLE} WHERE parent_id = $1) AS reversible_head,
              k.sub_account_id, k.idempotency_key, k.usage_id, k.fingerprint, k.remaining,
              k.recorded_at, k.revision
       FROM (SELECT 1) AS one
       LEFT JOIN (
         SELECT found.*
         -- Expired keys leave the table in periodic sweeps (usage-keys.projection.ts); until then the
         -- lookup leaves them out by the same rule.
         FROM (SELECT latest_recorded_at - make_interval(hours => $4) AS cutoff
               FROM ${USAGE_KEY_HEADS_TABLE} WHERE parent_id = $1) AS live,
              unnest($2::text[], $3::text[]) AS wanted(sub_account_id, idempotency_key),
              -- One primary-key probe per key asked, whatever the table's statistics say (LIMIT keeps
              -- the planner from flattening it into a join that may scan all the parent's keys).
              LATERAL (SELECT * FROM ${USAGE_KEYS_TABLE} u
                       WHERE u.parent_id = $1
                         AND u.sub_account_id = wanted.sub_account_id
                         AND u.idempotency_key = wanted.idempotency_key
                         AND u.recorded_at > live.cutoff
                       LIMIT 1) AS found
       ) AS k ON true`,
      [
        parentId,
        keys.map((key) => key.subAccountId),
        keys.map((key) => key.idempotencyKey),
        USAGE_KEY_RETENTION_HOURS,
      ],
    );
    const receipts = new Map<string, UsageReceipt>();
    let indexedThrough = -1;
    let reversibleThrough = -1;
    for (const row of rows) {
      if (row.head !== null) indexedThrough = Number(row.head);
      if (row.reversible_head !== null) reversibleThrough = Number(row.reversible_head);
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
    return { indexedThrough, receipts, reversibleThrough };
  }

  /**
   * A batch's reversals: their usage rows, their keys' rows and the parent's head, from one statement
   * (one committed state). Expired rows may come too; decide applies the 35 days to them.
   */
  async lookupReversible(parentId: string, refs: readonly ReversalRef[]): Promise<ReversibleUsageLookup> {
    const { rows } = await this.database.pool.query<{
      head: string | null;
      usages: UsageRowJson[];
      reversals: ReversalRowJson[];
    }>(
      `SELECT (SELECT revision FROM ${REVERSIBLE_USAGE_HEADS_TABLE} WHERE parent_id = $1) AS head,
              (SELECT coalesce(json_agg(u), '[]') FROM ${REVERSIBLE_USAGES_TABLE} u
                WHERE u.parent_id = $1 AND u.usage_id = ANY($2::text[])) AS usages,
              (SELECT coalesce(json_agg(r), '[]')
                 FROM unnest($2::text[], $3::text[]) AS wanted(usage_id, idempotency_key),
                      LATERAL (SELECT * FROM ${USAGE_REVERSALS_TABLE} v
                               WHERE v.parent_id = $1
                                 AND v.usage_id = wanted.usage_id
                                 AND v.idempotency_key = wanted.idempotency_key
                               LIMIT 1) AS r) AS reversals`,
      [parentId, refs.map((ref) => ref.usageId), refs.map((ref) => ref.idempotencyKey)],
    );
    const [row] = rows;
    const usages = new Map<string, ReversibleUsage & { reversed: number }>();
    for (const usage of row.usages) {
      usages.set(usage.usage_id, {
        usageId: usage.usage_id,
        subAccountId: usage.sub_account_id,
        credits: Number(usage.credits),
        reversed: Number(usage.reversed),
        meter: usage.meter,
        occurredAt: usage.occurred_at,
        billingPeriod: usage.billing_period,
        late: usage.late,
        recordedAtMs: Date.parse(usage.recorded_at),
        revision: Number(usage.revision),
      });
    }
    const reversals = new Map<string, ReversalReceipt>();
    for (const reversal of row.reversals) {
      reversals.set(reversalKeyOf(reversal.usage_id, reversal.idempotency_key), {
        usageId: reversal.usage_id,
        idempotencyKey: reversal.idempotency_key,
        reversalId: reversal.reversal_id,
        fingerprint: reversal.fingerprint,
        credits: Number(reversal.credits),
        reversedAtMs: Date.parse(reversal.reversed_at),
        revision: Number(reversal.revision),
      });
    }
    return { indexedThrough: row.head === null ? -1 : Number(row.head), usages, reversals };
  }
}

/** Rows as json_agg writes them: bigint as numbers, timestamptz as ISO text. */
type UsageRowJson = {
  usage_id: string;
  sub_account_id: string;
  credits: number;
  reversed: number;
  meter: string;
  occurred_at: string;
  billing_period: string;
  late: boolean;
  recorded_at: string;
  revision: number;
};

type ReversalRowJson = {
  usage_id: string;
  idempotency_key: string;
  reversal_id: string;
  fingerprint: string;
  credits: number;
  reversed_at: string;
  revision: number;
};
