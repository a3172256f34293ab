import type { ActorType, PoolBalances, SubAccountBalances } from '../../ledger/domain/ledger.events';
import type { StoredLedgerEvent } from '../projection';
import { ProjectionQueryError } from '../projection.errors';

export const SUB_ACCOUNT_HISTORY_EVENT_TYPES = [
  'SubAccountCreated',
  'QuotaAllocated',
  'CreditsReturned',
  'UsageRecorded',
  'SubAccountClosed',
  'CreditsExpired',
  'UsageReversed',
] as const;
export const POOL_HISTORY_EVENT_TYPES = [
  'CreditsPurchased',
  'QuotaAllocated',
  'CreditsReturned',
  'SubAccountClosed',
  'CreditsExpired',
] as const;

export interface HistoryQuery {
  /** Inclusive lower bound on recordedAt. */
  readonly from?: Date;
  /** Exclusive upper bound on recordedAt. */
  readonly to?: Date;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
  readonly limit: number;
}

export const MAX_HISTORY_LIMIT = 500;

const CURSOR_PREFIX = 'h1:';

export function encodeHistoryCursor(revision: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${revision}`, 'utf8').toString('base64url');
}

export function decodeHistoryCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const revision = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : NaN;
  if (!Number.isSafeInteger(revision) || revision < 0 || encodeHistoryCursor(revision) !== cursor) {
    throw new ProjectionQueryError('cursor is not a cursor this history returned');
  }
  return revision;
}

export interface HistoryEntryBase {
  /** Resume after this entry: pass it as `cursor`. */
  readonly cursor: string;
  readonly eventId: string;
  /** Revision in the parent's `ledger-<parentId>` stream. */
  readonly revision: number;
  readonly type: string;
  /** Credits moved by this event (0 for SubAccountCreated). */
  readonly credits: number;
  readonly reason: string | null;
  readonly recordedAt: string | null;
  readonly actor: { readonly type: ActorType; readonly id: string } | null;
  readonly correlationId: string | null;
  readonly causationId: string | null;
}

export interface SubAccountHistoryEntry extends HistoryEntryBase {
  readonly type: (typeof SUB_ACCOUNT_HISTORY_EVENT_TYPES)[number];
  readonly balancesAfter: SubAccountBalances;
  /** When the usage happened (usage only; rule 9 lets it precede recordedAt). */
  readonly occurredAt: string | null;
  readonly meter: string | null;
  readonly usageId: string | null;
  readonly idempotencyKey: string | null;
  readonly billingPeriod: string | null;
  readonly late: boolean | null;
}

export interface PoolHistoryEntry extends HistoryEntryBase {
  readonly type: (typeof POOL_HISTORY_EVENT_TYPES)[number];
  /** The sub-account the credits went to or came from; null for a purchase. */
  readonly subAccountId: string | null;
  readonly poolAfter: PoolBalances;
  readonly reference: string | null;
}

const ZERO_BALANCES: SubAccountBalances = { quota: 0, used: 0, remaining: 0 };

/**
 * An entry as the credit-entries projection keeps it (its `entry` column): everything but the cursor,
 * which the page adds from the revision.
 */
export type StoredHistoryEntry<Entry extends HistoryEntryBase> = Omit<Entry, 'cursor'>;

/**
 * An audit entry from the stored event, as the credit-entries projection stores it. Only fields meant
 * for the sub-account are copied: the raw data of SubAccountCreated carries the credit price, which a
 * `bill-to-parent` sub-account must not see. `recordedAt` is the event's, already formatted by the
 * caller (the row's column has it too). This runs for every credit movement of a rebuild: an entry is
 * built without spreads (`entryBase`).
 */
export function subAccountHistoryEntry(
  event: StoredLedgerEvent,
  subAccountId: string,
  recordedAt: string | null,
): StoredHistoryEntry<SubAccountHistoryEntry> {
  switch (event.type) {
    case 'SubAccountCreated':
      return subEntry(event, recordedAt, 0, null, ZERO_BALANCES, null);
    case 'QuotaAllocated':
    case 'CreditsReturned':
      return subEntry(
        event,
        recordedAt,
        event.data.credits,
        event.data.reason,
        event.data.balancesAfter.subAccount,
        null,
      );
    case 'UsageRecorded': {
      const data = event.data;
      return subEntry(event, recordedAt, data.credits, null, data.balancesAfter.subAccount, {
        occurredAt: data.occurredAt,
        meter: data.meter,
        usageId: data.usageId,
        idempotencyKey: data.idempotencyKey,
        billingPeriod: data.billingPeriod,
        late: data.late,
      });
    }
    case 'SubAccountClosed':
      return subEntry(
        event,
        recordedAt,
        event.data.returnedCredits,
        null,
        event.data.balancesAfter.subAccount,
        null,
      );
    case 'CreditsExpired': {
      // The entry of the sub-account the history is of: the caller only asks for revisions it has rows at.
      const from = event.data.fromSubAccounts.find((entry) => entry.subAccountId === subAccountId);
      return subEntry(
        event,
        recordedAt,
        from?.credits ?? 0,
        `lot ${event.data.lotId} expired`,
        from?.balancesAfter ?? ZERO_BALANCES,
        null,
      );
    }
    case 'UsageReversed': {
      const data = event.data;
      return subEntry(event, recordedAt, data.credits, data.reason, data.balancesAfter.subAccount, {
        occurredAt: data.occurredAt,
        meter: data.meter,
        usageId: data.usageId,
        idempotencyKey: data.idempotencyKey,
        billingPeriod: data.originalPeriod,
        late: null,
      });
    }
    default:
      throw new Error(`${event.type} at revision ${event.revision} is not a sub-account history event`);
  }
}

export function poolHistoryEntry(
  event: StoredLedgerEvent,
  recordedAt: string | null,
): StoredHistoryEntry<PoolHistoryEntry> {
  switch (event.type) {
    case 'CreditsPurchased':
      return poolEntry(
        event,
        recordedAt,
        event.data.credits,
        null,
        null,
        event.data.reference,
        event.data.balancesAfter.pool,
      );
    case 'QuotaAllocated':
    case 'CreditsReturned':
      return poolEntry(
        event,
        recordedAt,
        event.data.credits,
        event.data.reason,
        event.data.subAccountId,
        null,
        event.data.balancesAfter.pool,
      );
    case 'SubAccountClosed':
      return poolEntry(
        event,
        recordedAt,
        event.data.returnedCredits,
        null,
        event.data.subAccountId,
        null,
        event.data.balancesAfter.pool,
      );
    case 'CreditsExpired':
      return poolEntry(
        event,
        recordedAt,
        event.data.credits,
        `lot ${event.data.lotId} expired`,
        null,
        null,
        event.data.balancesAfter.pool,
      );
    default:
      throw new Error(`${event.type} at revision ${event.revision} is not a pool history event`);
  }
}

interface UsageFields {
  readonly occurredAt: string;
  readonly meter: string;
  readonly usageId: string;
  readonly idempotencyKey: string;
  readonly billingPeriod: string;
  readonly late: boolean | null;
}

function subEntry(
  event: StoredLedgerEvent,
  recordedAt: string | null,
  credits: number,
  reason: string | null,
  balancesAfter: SubAccountBalances,
  usage: UsageFields | null,
): StoredHistoryEntry<SubAccountHistoryEntry> {
  return Object.assign(entryBase(event, recordedAt, credits, reason), {
    type: event.type as SubAccountHistoryEntry['type'],
    balancesAfter,
    occurredAt: usage ? usage.occurredAt : null,
    meter: usage ? usage.meter : null,
    usageId: usage ? usage.usageId : null,
    idempotencyKey: usage ? usage.idempotencyKey : null,
    billingPeriod: usage ? usage.billingPeriod : null,
    late: usage ? usage.late : null,
  });
}

function poolEntry(
  event: StoredLedgerEvent,
  recordedAt: string | null,
  credits: number,
  reason: string | null,
  subAccountId: string | null,
  reference: string | null,
  poolAfter: PoolBalances,
): StoredHistoryEntry<PoolHistoryEntry> {
  return Object.assign(entryBase(event, recordedAt, credits, reason), {
    type: event.type as PoolHistoryEntry['type'],
    subAccountId,
    poolAfter,
    reference,
  });
}

/** The fields every entry has. Completed with `Object.assign`: a spread of it cost ~14 µs a row. */
function entryBase(
  event: StoredLedgerEvent,
  recordedAt: string | null,
  credits: number,
  reason: string | null,
): StoredHistoryEntry<HistoryEntryBase> {
  const metadata = event.metadata;
  const actor = metadata.actor as { type: ActorType; id: string } | undefined;
  return {
    eventId: event.id,
    revision: Number(event.revision),
    type: event.type,
    credits,
    reason,
    recordedAt,
    actor: actor ? { type: actor.type, id: actor.id } : null,
    correlationId: typeof metadata.$correlationId === 'string' ? metadata.$correlationId : null,
    causationId: typeof metadata.$causationId === 'string' ? metadata.$causationId : null,
  };
}
