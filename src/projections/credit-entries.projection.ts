import type { PoolClient } from 'pg';
import { CopyRows } from '../database/copy-rows';
import type { SubAccountBalances } from '../ledger/domain/ledger.events';
import { poolHistoryEntry, subAccountHistoryEntry } from './history/history-entry';
import {
  movesNoCredits,
  parentIdOfStream,
  unhandledEvent,
  type Projection,
  type RecordedEnvelope,
} from './projection';

/** The table of the current version; `credit_entries` is the stable view over it (docs/read-model.md). */
export const CREDIT_ENTRIES_TABLE = 'credit_entries_v2';
/** The `account` of a parent's pool; sub-account ids are never empty (kernel/ids.ts). */
export const POOL_ACCOUNT = '';

const ZERO: SubAccountBalances = { quota: 0, used: 0, remaining: 0 };

/**
 * Every credit movement, one row per account it touches: a sub-account's rows carry its balance after
 * the event (the same numbers the write side decided, `balancesAfter`, so the read side never
 * re-derives a balance), the pool's rows (account '') only the movement. Each row also keeps its
 * history entry as JSON, made from the event by the history slice's own functions. It serves two
 * slices: the history (a page is one index range of rows) and the balance as of an instant (one index
 * lookup). Version 2 added the entries (decision 81).
 */
export const creditEntriesProjection: Projection = {
  name: 'credit-entries',
  version: 2,
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
  'entry',
] as const;

function add(
  rows: CopyRows,
  event: RecordedEnvelope,
  account: string,
  credits: number,
  after: SubAccountBalances | null,
): void {
  const recordedAt = Number.isNaN(event.recordedAtMs) ? null : new Date(event.recordedAtMs).toISOString();
  rows.add(
    parentIdOfStream(event.streamName),
    account,
    event.revision,
    recordedAt,
    event.type,
    credits,
    after ? after.quota : null,
    after ? after.used : null,
    JSON.stringify(
      account === POOL_ACCOUNT
        ? poolHistoryEntry(event, recordedAt)
        : subAccountHistoryEntry(event, account, recordedAt),
    ),
  );
}
