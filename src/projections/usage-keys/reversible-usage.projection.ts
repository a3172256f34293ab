import type { PoolClient } from 'pg';
import { parentIdOfStream, type Projection, type RecordedEnvelope } from '../projection';
import { USAGE_KEY_RETENTION_HOURS } from './usage-keys.projection';

/** The tables of the current version; `reversible_usages`, `usage_reversals` and `…_heads` are the views. */
export const REVERSIBLE_USAGES_TABLE = 'reversible_usages_v1';
export const USAGE_REVERSALS_TABLE = 'usage_reversals_v1';
export const REVERSIBLE_USAGE_HEADS_TABLE = 'reversible_usage_heads_v1';

/** As for the keys: one scan of the tables every few minutes instead of an index kept by every insert. */
const SWEEP_EVERY_MS = 10 * 60_000;

type Head = { revision: bigint; latestRecordedAtMs: number };

/**
 * The reversible-usage index (SPEC §10): per usage record of the last 35 days what a reversal needs
 * (sub-account, credits, meter, occurredAt, billing period, late, recordedAt and the credits reversed
 * so far), each reversal with its idempotency key, fingerprint and answer, and per parent the revision
 * of its stream indexed through, committed with the runner's checkpoint in one transaction. The write
 * side asks it through `PgUsageKeyIndex.lookupReversible`. Rows expire 35 days after their recording
 * by the parent's newest indexed recording (the ledger's clock), as decide treats them.
 */
export const reversibleUsageProjection: Projection = reversibleUsageInto(
  REVERSIBLE_USAGES_TABLE,
  USAGE_REVERSALS_TABLE,
  REVERSIBLE_USAGE_HEADS_TABLE,
  1,
);

export function reversibleUsageInto(
  usagesTable: string,
  reversalsTable: string,
  headsTable: string,
  version: number,
): Projection {
  let lastSweepAt = Number.NEGATIVE_INFINITY;
  return {
    name: 'reversible-usage',
    version,
    tables: [usagesTable, reversalsTable, headsTable],
    async write(client: PoolClient, events: readonly RecordedEnvelope[]): Promise<void> {
      const usages: RecordedEnvelope[] = [];
      const reversals: RecordedEnvelope[] = [];
      const heads = new Map<string, Head>();
      for (const event of events) {
        const parent = parentIdOfStream(event.streamName);
        let head = heads.get(parent);
        if (!head) {
          head = { revision: event.revision, latestRecordedAtMs: Number.NEGATIVE_INFINITY };
          heads.set(parent, head);
        }
        if (event.revision > head.revision) head.revision = event.revision;
        if (event.type === 'UsageRecorded') {
          const recordedAtMs = Date.parse(event.data.recordedAt);
          if (recordedAtMs > head.latestRecordedAtMs) head.latestRecordedAtMs = recordedAtMs;
          usages.push(event);
        } else if (event.type === 'UsageReversed') {
          reversals.push(event);
        }
      }
      if (usages.length > 0) await insertUsages(client, usagesTable, usages);
      // After the usage rows: a usage recorded and reversed in one batch is reversed in its row too.
      if (reversals.length > 0) await insertReversals(client, usagesTable, reversalsTable, reversals);
      if (heads.size === 0) return;
      const parents = [...heads.keys()];
      const headRows = [...heads.values()];
      await client.query(
        `INSERT INTO ${headsTable} AS h (parent_id, revision, latest_recorded_at)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[])
         ON CONFLICT (parent_id) DO UPDATE
           SET revision = GREATEST(h.revision, EXCLUDED.revision),
               latest_recorded_at = GREATEST(h.latest_recorded_at, EXCLUDED.latest_recorded_at)`,
        [
          parents,
          headRows.map((head) => head.revision.toString()),
          headRows.map((head) =>
            Number.isFinite(head.latestRecordedAtMs) ? new Date(head.latestRecordedAtMs).toISOString() : null,
          ),
        ],
      );
      if (Date.now() - lastSweepAt < SWEEP_EVERY_MS) return;
      lastSweepAt = Date.now();
      // A reversal is never older than its usage, so its row outlives the usage's: a repeat of it
      // finds the usage gone first, and the lookup leaves expired usage to decide's own rule.
      await client.query(
        `DELETE FROM ${usagesTable} u USING ${headsTable} h
         WHERE u.parent_id = h.parent_id AND u.recorded_at <= h.latest_recorded_at - make_interval(hours => $1)`,
        [USAGE_KEY_RETENTION_HOURS],
      );
      await client.query(
        `DELETE FROM ${reversalsTable} r USING ${headsTable} h
         WHERE r.parent_id = h.parent_id AND r.reversed_at <= h.latest_recorded_at - make_interval(hours => $1)`,
        [USAGE_KEY_RETENTION_HOURS],
      );
    },
  };
}

async function insertUsages(
  client: PoolClient,
  usagesTable: string,
  events: readonly RecordedEnvelope[],
): Promise<void> {
  const rows = events.map((event) => {
    if (event.type !== 'UsageRecorded') throw new Error(`not a usage record: ${event.type}`);
    return { parent: parentIdOfStream(event.streamName), revision: event.revision, data: event.data };
  });
  // A usage id names one UsageRecorded (generated by the service), so a row is never replaced.
  await client.query(
    `INSERT INTO ${usagesTable}
       (parent_id, usage_id, sub_account_id, credits, meter, occurred_at, billing_period, late, recorded_at,
        revision)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                          $8::boolean[], $9::timestamptz[], $10::bigint[])
     ON CONFLICT (parent_id, usage_id) DO NOTHING`,
    [
      rows.map((row) => row.parent),
      rows.map((row) => row.data.usageId),
      rows.map((row) => row.data.subAccountId),
      rows.map((row) => row.data.credits),
      rows.map((row) => row.data.meter),
      rows.map((row) => row.data.occurredAt),
      rows.map((row) => row.data.billingPeriod),
      rows.map((row) => row.data.late),
      rows.map((row) => new Date(Date.parse(row.data.recordedAt)).toISOString()),
      rows.map((row) => row.revision.toString()),
    ],
  );
}

async function insertReversals(
  client: PoolClient,
  usagesTable: string,
  reversalsTable: string,
  events: readonly RecordedEnvelope[],
): Promise<void> {
  const rows = events.map((event) => {
    if (event.type !== 'UsageReversed') throw new Error(`not a reversal: ${event.type}`);
    return { parent: parentIdOfStream(event.streamName), revision: event.revision, data: event.data };
  });
  // Only the reversals inserted now add to their usage's `reversed`: the checkpoint already makes a
  // batch count once, and this keeps a row counted once even if it were written again.
  await client.query(
    `WITH added AS (
       INSERT INTO ${reversalsTable}
         (parent_id, usage_id, idempotency_key, reversal_id, fingerprint, credits, reversed_at, revision)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                            $7::timestamptz[], $8::bigint[])
       ON CONFLICT (parent_id, usage_id, idempotency_key) DO NOTHING
       RETURNING parent_id, usage_id, credits
     )
     UPDATE ${usagesTable} u SET reversed = u.reversed + s.credits
     FROM (SELECT parent_id, usage_id, sum(credits) AS credits FROM added GROUP BY parent_id, usage_id) s
     WHERE u.parent_id = s.parent_id AND u.usage_id = s.usage_id`,
    [
      rows.map((row) => row.parent),
      rows.map((row) => row.data.usageId),
      rows.map((row) => row.data.idempotencyKey),
      rows.map((row) => row.data.reversalId),
      rows.map((row) => row.data.fingerprint),
      rows.map((row) => row.data.credits),
      rows.map((row) => new Date(Date.parse(row.data.reversedAt)).toISOString()),
      rows.map((row) => row.revision.toString()),
    ],
  );
}
