import type { ActorType, PoolBalances, SubAccountBalances } from '../../ledger/domain/ledger.events';
import { recordedAtMsOf, type StoredLedgerEvent } from '../projection';
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

interface HistoryEntryBase {
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
 * An audit entry from the stored event. Only fields meant for the sub-account are copied: the raw data
 * of SubAccountCreated carries the credit price, which a `bill-to-parent` sub-account must not see.
 */
export function subAccountHistoryEntry(
  recorded: StoredLedgerEvent,
  subAccountId: string,
): SubAccountHistoryEntry {
  const base = entryBase(recorded);
  switch (recorded.type) {
    case 'SubAccountCreated':
      return { ...base, ...noUsage, type: recorded.type, credits: 0, balancesAfter: ZERO_BALANCES };
    case 'QuotaAllocated':
    case 'CreditsReturned':
      return {
        ...base,
        ...noUsage,
        type: recorded.type,
        credits: recorded.data.credits,
        reason: recorded.data.reason,
        balancesAfter: recorded.data.balancesAfter.subAccount,
      };
    case 'UsageRecorded':
      return {
        ...base,
        type: recorded.type,
        credits: recorded.data.credits,
        balancesAfter: recorded.data.balancesAfter.subAccount,
        occurredAt: recorded.data.occurredAt,
        meter: recorded.data.meter,
        usageId: recorded.data.usageId,
        idempotencyKey: recorded.data.idempotencyKey,
        billingPeriod: recorded.data.billingPeriod,
        late: recorded.data.late,
      };
    case 'SubAccountClosed':
      return {
        ...base,
        ...noUsage,
        type: recorded.type,
        credits: recorded.data.returnedCredits,
        balancesAfter: recorded.data.balancesAfter.subAccount,
      };
    case 'CreditsExpired': {
      // The entry of the sub-account the history is of: the caller only asks for revisions it has rows at.
      const from = recorded.data.fromSubAccounts.find((entry) => entry.subAccountId === subAccountId);
      return {
        ...base,
        ...noUsage,
        type: recorded.type,
        credits: from?.credits ?? 0,
        reason: `lot ${recorded.data.lotId} expired`,
        balancesAfter: from?.balancesAfter ?? ZERO_BALANCES,
      };
    }
    case 'UsageReversed':
      return {
        ...base,
        type: recorded.type,
        credits: recorded.data.credits,
        reason: recorded.data.reason,
        balancesAfter: recorded.data.balancesAfter.subAccount,
        occurredAt: recorded.data.occurredAt,
        meter: recorded.data.meter,
        usageId: recorded.data.usageId,
        idempotencyKey: recorded.data.idempotencyKey,
        billingPeriod: recorded.data.originalPeriod,
        late: null,
      };
    default:
      throw new Error(`${recorded.type} at revision ${recorded.revision} is not a sub-account history event`);
  }
}

export function poolHistoryEntry(recorded: StoredLedgerEvent): PoolHistoryEntry {
  const base = entryBase(recorded);
  switch (recorded.type) {
    case 'CreditsPurchased':
      return {
        ...base,
        type: recorded.type,
        credits: recorded.data.credits,
        subAccountId: null,
        reference: recorded.data.reference,
        poolAfter: recorded.data.balancesAfter.pool,
      };
    case 'QuotaAllocated':
    case 'CreditsReturned':
      return {
        ...base,
        type: recorded.type,
        credits: recorded.data.credits,
        reason: recorded.data.reason,
        subAccountId: recorded.data.subAccountId,
        reference: null,
        poolAfter: recorded.data.balancesAfter.pool,
      };
    case 'SubAccountClosed':
      return {
        ...base,
        type: recorded.type,
        credits: recorded.data.returnedCredits,
        subAccountId: recorded.data.subAccountId,
        reference: null,
        poolAfter: recorded.data.balancesAfter.pool,
      };
    case 'CreditsExpired':
      return {
        ...base,
        type: recorded.type,
        credits: recorded.data.credits,
        reason: `lot ${recorded.data.lotId} expired`,
        subAccountId: null,
        reference: null,
        poolAfter: recorded.data.balancesAfter.pool,
      };
    default:
      throw new Error(`${recorded.type} at revision ${recorded.revision} is not a pool history event`);
  }
}

const noUsage = {
  occurredAt: null,
  meter: null,
  usageId: null,
  idempotencyKey: null,
  billingPeriod: null,
  late: null,
} as const;

function entryBase(event: StoredLedgerEvent): HistoryEntryBase {
  const metadata = event.metadata;
  const revision = Number(event.revision);
  const actor = metadata.actor as { type: ActorType; id: string } | undefined;
  const recordedAt = recordedAtMsOf(metadata, event.data);
  return {
    cursor: encodeHistoryCursor(revision),
    eventId: event.id,
    revision,
    type: event.type,
    credits: 0,
    reason: null,
    recordedAt: Number.isNaN(recordedAt) ? null : new Date(recordedAt).toISOString(),
    actor: actor ? { type: actor.type, id: actor.id } : null,
    correlationId: typeof metadata.$correlationId === 'string' ? metadata.$correlationId : null,
    causationId: typeof metadata.$causationId === 'string' ? metadata.$causationId : null,
  };
}
