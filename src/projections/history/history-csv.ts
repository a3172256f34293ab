import { text, toCsv } from '../../http/csv';
import type { SubAccountHistoryEntry } from './history-entry';
import type { HistoryPage } from './sub-account-history.service';

/** An export without `limit` holds the whole range up to this many rows, then says where to resume. */
export const CSV_HISTORY_MAX_ROWS = 50_000;

/**
 * The rest of a range after its first page, page by page, up to `maxRows` entries in all: a CSV
 * export is for a spreadsheet or an auditor, who wants the range, not a page of it.
 */
export async function wholeRange(
  first: HistoryPage<SubAccountHistoryEntry>,
  nextPage: (cursor: string) => Promise<HistoryPage<SubAccountHistoryEntry> | undefined>,
  maxRows = CSV_HISTORY_MAX_ROWS,
): Promise<HistoryPage<SubAccountHistoryEntry>> {
  const entries = [...first.entries];
  let cursor = first.nextCursor;
  while (cursor !== null && entries.length < maxRows) {
    const page = await nextPage(cursor);
    if (!page || page.entries.length === 0) break;
    entries.push(...page.entries);
    cursor = page.nextCursor;
  }
  return { entries, nextCursor: cursor };
}

/**
 * History entries as CSV: one row per entry, in order, balances after each entry. Where the export
 * stops short of the range, the cursor to resume from travels in the `x-next-cursor` header.
 */
export function historyCsv(entries: readonly SubAccountHistoryEntry[]): string {
  return toCsv(
    [
      'revision',
      'eventId',
      'type',
      'credits',
      'reason',
      'meter',
      'usageId',
      'idempotencyKey',
      'billingPeriod',
      'late',
      'quotaAfter',
      'usedAfter',
      'remainingAfter',
      'occurredAt',
      'recordedAt',
      'actorType',
      'actorId',
      'correlationId',
      'causationId',
      'cursor',
    ],
    entries.map((entry) => [
      entry.revision,
      entry.eventId,
      entry.type,
      entry.credits,
      text(entry.reason),
      text(entry.meter),
      entry.usageId,
      text(entry.idempotencyKey),
      entry.billingPeriod,
      entry.late === null ? '' : String(entry.late),
      entry.balancesAfter.quota,
      entry.balancesAfter.used,
      entry.balancesAfter.remaining,
      entry.occurredAt,
      entry.recordedAt,
      entry.actor?.type,
      text(entry.actor?.id),
      text(entry.correlationId),
      text(entry.causationId),
      entry.cursor,
    ]),
  );
}
