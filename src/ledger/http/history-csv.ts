import { text, toCsv } from '../../http/csv';
import type { SubAccountHistoryEntry } from '../../projections';

/**
 * A history page as CSV: one row per entry, in the page's order, balances after each entry. The
 * page's `nextCursor` travels in the `x-next-cursor` header (absent on the last page).
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
