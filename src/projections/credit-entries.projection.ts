import type { PoolClient } from 'pg';
import type { SubAccountBalances } from '../ledger/domain/ledger.events';
import {
  movesNoCredits,
  parentIdOfStream,
  unhandledEvent,
  type Projection,
  type RecordedEnvelope,
} from './projection';

/** The table of the current version; `credit_entries` is the stable view over it (docs/read-model.md). */
export const CREDIT_ENTRIES_TABLE = 'credit_entries_v1';
/** The `account` of a parent's pool; sub-account ids are never empty (kernel/ids.ts). */
export const POOL_ACCOUNT = '';

const ZERO: SubAccountBalances = { quota: 0, used: 0, remaining: 0 };

/**
 * Every credit movement, one row per account it touches: a sub-account's rows carry its balance after
 * the event (the same numbers the write side decided, `balancesAfter`, so the read side never
 * re-derives a balance), the pool's rows (account '') only the movement. It serves two slices: the
 * history (which revisions make up a page; the events themselves are read back from the log, which
 * holds every field an auditor wants) and the balance as of an instant (one index lookup).
 */
export const creditEntriesProjection: Projection = {
  name: 'credit-entries',
  version: 1,
  tables: [CREDIT_ENTRIES_TABLE],
  views: { credit_entries: CREDIT_ENTRIES_TABLE },
  async write(client: PoolClient, events: readonly RecordedEnvelope[]): Promise<void> {
    const rows = new EntryColumns();
    for (const event of events) {
      if (movesNoCredits(event)) continue;
      switch (event.type) {
        case 'CreditsPurchased':
          rows.add(event, POOL_ACCOUNT, event.data.credits, null);
          break;
        case 'SubAccountCreated':
          rows.add(event, event.data.subAccountId, 0, ZERO);
          break;
        case 'UsageRecorded':
          rows.add(event, event.data.subAccountId, event.data.credits, event.data.balancesAfter.subAccount);
          break;
        case 'QuotaAllocated':
        case 'CreditsReturned':
          rows.add(event, event.data.subAccountId, event.data.credits, event.data.balancesAfter.subAccount);
          rows.add(event, POOL_ACCOUNT, event.data.credits, null);
          break;
        case 'SubAccountClosed':
          rows.add(
            event,
            event.data.subAccountId,
            event.data.returnedCredits,
            event.data.balancesAfter.subAccount,
          );
          if (event.data.returnedCredits > 0) rows.add(event, POOL_ACCOUNT, event.data.returnedCredits, null);
          break;
        default:
          unhandledEvent(event);
      }
    }
    if (rows.parent.length === 0) return;
    // One statement per batch: the columns go over as arrays and come back as rows (unnest). The primary
    // key makes a repeated event a no-op, though the checkpoint already keeps repeats out.
    await client.query(
      `INSERT INTO ${CREDIT_ENTRIES_TABLE}
         (parent_id, account, revision, recorded_at, event_type, credits, quota_after, used_after)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::text[],
                            $6::bigint[], $7::bigint[], $8::bigint[])
       ON CONFLICT DO NOTHING`,
      [
        rows.parent,
        rows.account,
        rows.revision,
        rows.recordedAt,
        rows.type,
        rows.credits,
        rows.quota,
        rows.used,
      ],
    );
  },
};

class EntryColumns {
  readonly parent: string[] = [];
  readonly account: string[] = [];
  readonly revision: string[] = [];
  readonly recordedAt: (string | null)[] = [];
  readonly type: string[] = [];
  readonly credits: number[] = [];
  readonly quota: (number | null)[] = [];
  readonly used: (number | null)[] = [];

  add(event: RecordedEnvelope, account: string, credits: number, after: SubAccountBalances | null): void {
    this.parent.push(parentIdOfStream(event.streamName));
    this.account.push(account);
    this.revision.push(event.revision.toString());
    this.recordedAt.push(
      Number.isNaN(event.recordedAtMs) ? null : new Date(event.recordedAtMs).toISOString(),
    );
    this.type.push(event.type);
    this.credits.push(credits);
    this.quota.push(after ? after.quota : null);
    this.used.push(after ? after.used : null);
  }
}
