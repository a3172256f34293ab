import type { PoolClient } from 'pg';
import { nextPeriod, periodBounds, periodOf } from '../../invoicing';
import {
  movesNoCredits,
  parentIdOfStream,
  unhandledEvent,
  type Projection,
  type RecordedEnvelope,
} from '../projection';

/** The table of the current version; `credit_schedule` is the stable view over it (docs/read-model.md). */
export const CREDIT_SCHEDULE_TABLE = 'credit_schedule_v1';

/** The start of the period after the one `instant` is in: when a recurring allocation is next due. */
function nextPeriodStart(instant: string): string {
  return periodBounds(nextPeriod(periodOf(instant))).start.toISOString();
}

/**
 * When each parent next has time-based credit work (SPEC §10): lots by expiry, recurring allocations by
 * the next period start. The timer (`CreditScheduler`) reads it; the ledger's decider stays the judge of
 * what is actually due, so a row that is early or stale costs one empty decision, never a wrong event.
 */
export const creditScheduleProjection: Projection = {
  name: 'credit-schedule',
  version: 1,
  tables: [CREDIT_SCHEDULE_TABLE],
  views: { credit_schedule: CREDIT_SCHEDULE_TABLE },
  async write(client: PoolClient, events: readonly RecordedEnvelope[]): Promise<void> {
    const upsert = (parent: string, kind: string, item: string, dueAt: string) =>
      client.query(
        `INSERT INTO ${CREDIT_SCHEDULE_TABLE} (parent_id, kind, item, due_at, done) VALUES ($1, $2, $3, $4, false)
         ON CONFLICT (parent_id, kind, item) DO UPDATE SET due_at = EXCLUDED.due_at, done = false`,
        [parent, kind, item, dueAt],
      );
    const remove = (parent: string, kind: string, item: string) =>
      client.query(`DELETE FROM ${CREDIT_SCHEDULE_TABLE} WHERE parent_id = $1 AND kind = $2 AND item = $3`, [
        parent,
        kind,
        item,
      ]);
    for (const event of events) {
      const parent = parentIdOfStream(event.streamName);
      switch (event.type) {
        case 'CreditsPurchased':
          if (event.data.expiresAt && event.data.lotId) {
            await upsert(parent, 'lot', event.data.lotId, event.data.expiresAt);
          }
          break;
        case 'CreditsExpired':
          await client.query(
            `UPDATE ${CREDIT_SCHEDULE_TABLE} SET done = true WHERE parent_id = $1 AND kind = 'lot' AND item = $2`,
            [parent, event.data.lotId],
          );
          break;
        case 'UsageReversed':
          // Credits given back to a lot that already lapsed lapse again at the timer's next run.
          await client.query(
            `UPDATE ${CREDIT_SCHEDULE_TABLE} SET done = false
             WHERE parent_id = $1 AND kind = 'lot' AND done AND item = ANY($2::text[])`,
            [parent, event.data.portions.map((portion) => portion.lotId)],
          );
          break;
        case 'RecurringAllocationSet':
          if (event.data.credits === null) await remove(parent, 'recurring', event.data.subAccountId);
          else await upsert(parent, 'recurring', event.data.subAccountId, nextPeriodStart(event.data.setAt));
          break;
        case 'QuotaAllocated':
          if (event.data.reason === 'recurring' && event.data.period) {
            const dueAt = periodBounds(nextPeriod(event.data.period)).start.toISOString();
            await client.query(
              `UPDATE ${CREDIT_SCHEDULE_TABLE} SET due_at = $3
               WHERE parent_id = $1 AND kind = 'recurring' AND item = $2`,
              [parent, event.data.subAccountId, dueAt],
            );
          }
          break;
        case 'RecurringAllocationFailed':
          await client.query(
            `UPDATE ${CREDIT_SCHEDULE_TABLE} SET due_at = $3
             WHERE parent_id = $1 AND kind = 'recurring' AND item = $2`,
            [
              parent,
              event.data.subAccountId,
              periodBounds(nextPeriod(event.data.period)).start.toISOString(),
            ],
          );
          break;
        case 'SubAccountClosed':
          await remove(parent, 'recurring', event.data.subAccountId);
          break;
        default:
          if (movesNoCredits(event)) break;
          switch (event.type) {
            case 'SubAccountCreated':
            case 'CreditsReturned':
            case 'UsageRecorded':
              break;
            default:
              unhandledEvent(event);
          }
      }
    }
  },
};
