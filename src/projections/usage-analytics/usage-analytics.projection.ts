import type { PoolClient } from 'pg';
import { arrayLiteral } from '../../database/array-literal';
import {
  movesNoCredits,
  parentIdOfStream,
  unhandledEvent,
  type Projection,
  type RecordedEnvelope,
} from '../projection';

/** The table of the current version; `usage_daily` is the stable view over it (docs/read-model.md). */
export const USAGE_DAILY_TABLE = 'usage_daily_v1';

const DAY_MS = 86_400_000;

/**
 * Usage totals per (parent, sub-account, meter, UTC day of occurredAt). A batch is summed in memory
 * first, so a hot sub-account's thousand records of one day are one upsert: the table grows with
 * sub-accounts × meters × days, however many usage events there are.
 */
export const usageAnalyticsProjection: Projection = usageAnalyticsInto(USAGE_DAILY_TABLE, 1);

/** The projection writing into `table`: a version bump's new tables come from a migration, named `…_v<version>`. */
export function usageAnalyticsInto(table: string, version: number): Projection {
  return {
    name: 'usage-analytics',
    version,
    tables: [table],
    views: { usage_daily: table },
    async write(client: PoolClient, events: readonly RecordedEnvelope[]): Promise<void> {
      const buckets = new Map<
        string,
        { parent: string; sub: string; meter: string; day: number; credits: number; records: number }
      >();
      const add = (
        event: RecordedEnvelope,
        usage: { subAccountId: string; meter: string; occurredAt: string },
        credits: number,
        records: number,
      ) => {
        const parent = parentIdOfStream(event.streamName);
        const { subAccountId: sub, meter } = usage;
        const day = Math.floor(Date.parse(usage.occurredAt) / DAY_MS);
        const key = `${parent}\u0000${sub}\u0000${meter}\u0000${day}`;
        const bucket = buckets.get(key);
        if (bucket) {
          bucket.credits += credits;
          bucket.records += records;
        } else {
          buckets.set(key, { parent, sub, meter, day, credits, records });
        }
      };
      for (const event of events) {
        if (movesNoCredits(event)) continue;
        switch (event.type) {
          case 'UsageRecorded':
            add(event, event.data, event.data.credits, 1);
            break;
          case 'UsageReversed':
            // Analytics are net of reversals: the credits leave the bucket of the usage's own day.
            add(event, event.data, -event.data.credits, 0);
            break;
          case 'CreditsExpired':
          case 'CreditsPurchased':
          case 'SubAccountCreated':
          case 'QuotaAllocated':
          case 'CreditsReturned':
          case 'SubAccountClosed':
            break;
          default:
            unhandledEvent(event);
        }
      }
      if (buckets.size === 0) return;
      const rows = [...buckets.values()];
      await client.query(
        `INSERT INTO ${table} AS u (parent_id, sub_account_id, meter, day, credits, records)
       SELECT p, s, m, DATE '1970-01-01' + d, c, n
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS t(p, s, m, d, c, n)
       ON CONFLICT (parent_id, sub_account_id, meter, day)
       DO UPDATE SET credits = u.credits + EXCLUDED.credits, records = u.records + EXCLUDED.records`,
        [
          arrayLiteral(rows.map((row) => row.parent)),
          arrayLiteral(rows.map((row) => row.sub)),
          arrayLiteral(rows.map((row) => row.meter)),
          arrayLiteral(rows.map((row) => row.day)),
          arrayLiteral(rows.map((row) => row.credits)),
          arrayLiteral(rows.map((row) => row.records)),
        ],
      );
    },
  };
}
