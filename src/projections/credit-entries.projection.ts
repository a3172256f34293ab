import type { PoolClient } from 'pg';
import { CopyRows } from '../database/copy-rows';
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
    // COPY: the runner's checkpoint row guarantees every event of the batch is new to the table.
    const rows = new CopyRows(CREDIT_ENTRIES_TABLE, COLUMNS);
    for (const event of events) {
      if (movesNoCredits(event)) continue;
      switch (event.type) {
        case 'CreditsPurchased':
          add(rows, event, POOL_ACCOUNT, event.data.credits, null);
          break;
        case 'SubAccountCreated':
          add(rows, event, event.data.subAccountId, 0, ZERO);
          break;
        case 'UsageRecorded':
          add(rows, event, event.data.subAccountId, event.data.credits, event.data.balancesAfter.subAccount);
          break;
        case 'QuotaAllocated':
        case 'CreditsReturned':
          add(rows, event, event.data.subAccountId, event.data.credits, event.data.balancesAfter.subAccount);
          add(rows, event, POOL_ACCOUNT, event.data.credits, null);
          break;
        case 'SubAccountClosed':
          add(
            rows,
            event,
            event.data.subAccountId,
            event.data.returnedCredits,
            event.data.balancesAfter.subAccount,
          );
          if (event.data.returnedCredits > 0)
            add(rows, event, POOL_ACCOUNT, event.data.returnedCredits, null);
          break;
        case 'CreditsExpired':
          for (const from of event.data.fromSubAccounts) {
            add(rows, event, from.subAccountId, from.credits, from.balancesAfter);
          }
          add(rows, event, POOL_ACCOUNT, event.data.credits, null);
          break;
        case 'UsageReversed':
          add(rows, event, event.data.subAccountId, event.data.credits, event.data.balancesAfter.subAccount);
          break;
        default:
          unhandledEvent(event);
      }
    }
    await rows.copy(client);
  },
};

const COLUMNS = [
  'parent_id',
  'account',
  'revision',
  'recorded_at',
  'event_type',
  'credits',
  'quota_after',
  'used_after',
] as const;

function add(
  rows: CopyRows,
  event: RecordedEnvelope,
  account: string,
  credits: number,
  after: SubAccountBalances | null,
): void {
  rows.add(
    parentIdOfStream(event.streamName),
    account,
    event.revision,
    Number.isNaN(event.recordedAtMs) ? null : new Date(event.recordedAtMs).toISOString(),
    event.type,
    credits,
    after ? after.quota : null,
    after ? after.used : null,
  );
}
