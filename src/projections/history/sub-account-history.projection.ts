import type { ActorType, PoolBalances, SubAccountBalances } from '../../ledger/domain/ledger.events';
import { Float64Column } from '../float64-column';
import {
  movesNoCredits,
  parentIdOfStream,
  recordedAtMsOf,
  unhandledEvent,
  type Projection,
  type RecordedEnvelope,
  type StoredLedgerEvent,
} from '../projection';
import { ProjectionQueryError } from '../projection.errors';

/**
 * The audit trail's index. Per sub-account (and per parent pool) it keeps only WHERE each credit event
 * is — its revision in `ledger-<parent>` — and its recordedAt, 16 bytes an entry in two Float64 columns.
 * The events themselves are read back from the store for the page asked for (see
 * sub-account-history.service.ts): the log already holds every field an auditor wants, so copying
 * correlation ids, actors and meters into memory would only spend the memory budget twice
 * (docs/projections.md has the measurement).
 */
export interface HistoryTimeline {
  readonly revisions: Float64Column;
  /**
   * recordedAt in epoch ms, as a running maximum so the column stays sorted for binary search even if
   * the service clock stepped back (each entry still reports its own recordedAt).
   */
  readonly recordedAtKeys: Float64Column;
}

export interface ParentHistory {
  /** Movements of the parent's pool: purchases, allocations, returns, closings that gave credits back. */
  readonly pool: HistoryTimeline;
  readonly subAccounts: Map<string, HistoryTimeline>;
}

export type SubAccountHistoryState = Map<string, ParentHistory>;

export const SUB_ACCOUNT_HISTORY_EVENT_TYPES = [
  'SubAccountCreated',
  'QuotaAllocated',
  'CreditsReturned',
  'UsageRecorded',
  'SubAccountClosed',
] as const;
export const POOL_HISTORY_EVENT_TYPES = [
  'CreditsPurchased',
  'QuotaAllocated',
  'CreditsReturned',
  'SubAccountClosed',
] as const;

type TimelineSnapshot = { r: string; t: string };
type HistorySnapshot = Record<string, { pool: TimelineSnapshot; subs: Record<string, TimelineSnapshot> }>;

export const subAccountHistoryProjection: Projection<SubAccountHistoryState> = {
  name: 'sub-account-history',
  version: 1,
  initialState: () => new Map(),
  evolve(state, event) {
    if (movesNoCredits(event)) return state;
    switch (event.type) {
      case 'CreditsPurchased':
        append(parentOf(state, event).pool, event);
        break;
      case 'SubAccountCreated':
      case 'UsageRecorded':
        append(subAccountOf(state, event, event.data.subAccountId), event);
        break;
      case 'QuotaAllocated':
      case 'CreditsReturned':
        append(subAccountOf(state, event, event.data.subAccountId), event);
        append(parentOf(state, event).pool, event);
        break;
      case 'SubAccountClosed':
        append(subAccountOf(state, event, event.data.subAccountId), event);
        if (event.data.returnedCredits > 0) append(parentOf(state, event).pool, event);
        break;
      default:
        unhandledEvent(event);
    }
    return state;
  },
  toSnapshot(state) {
    const snapshot: HistorySnapshot = {};
    for (const [parentId, parent] of state) {
      const subs: Record<string, TimelineSnapshot> = {};
      for (const [subId, timeline] of parent.subAccounts) subs[subId] = timelineToSnapshot(timeline);
      snapshot[parentId] = { pool: timelineToSnapshot(parent.pool), subs };
    }
    return snapshot;
  },
  fromSnapshot(json) {
    const state: SubAccountHistoryState = new Map();
    for (const [parentId, parent] of Object.entries(json as HistorySnapshot)) {
      const subAccounts = new Map<string, HistoryTimeline>();
      for (const [subId, timeline] of Object.entries(parent.subs)) {
        subAccounts.set(subId, timelineFromSnapshot(timeline));
      }
      state.set(parentId, { pool: timelineFromSnapshot(parent.pool), subAccounts });
    }
    return state;
  },
};

function newTimeline(): HistoryTimeline {
  return { revisions: new Float64Column(), recordedAtKeys: new Float64Column() };
}

function parentOf(state: SubAccountHistoryState, event: RecordedEnvelope): ParentHistory {
  const parentId = parentIdOfStream(event.streamName);
  let parent = state.get(parentId);
  if (!parent) {
    parent = { pool: newTimeline(), subAccounts: new Map() };
    state.set(parentId, parent);
  }
  return parent;
}

function subAccountOf(
  state: SubAccountHistoryState,
  event: RecordedEnvelope,
  subId: string,
): HistoryTimeline {
  const parent = parentOf(state, event);
  let timeline = parent.subAccounts.get(subId);
  if (!timeline) {
    timeline = newTimeline();
    parent.subAccounts.set(subId, timeline);
  }
  return timeline;
}

function append(timeline: HistoryTimeline, event: RecordedEnvelope): void {
  const previous = timeline.recordedAtKeys.last() ?? -Infinity;
  const recordedAt = event.recordedAtMs;
  timeline.revisions.push(Number(event.revision));
  timeline.recordedAtKeys.push(Number.isNaN(recordedAt) ? previous : Math.max(previous, recordedAt));
}

function timelineToSnapshot(timeline: HistoryTimeline): TimelineSnapshot {
  return { r: timeline.revisions.toBase64(), t: timeline.recordedAtKeys.toBase64() };
}

function timelineFromSnapshot(snapshot: TimelineSnapshot): HistoryTimeline {
  return {
    revisions: Float64Column.fromBase64(snapshot.r),
    recordedAtKeys: Float64Column.fromBase64(snapshot.t),
  };
}

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

/** Which revisions make up one page; `hasMore` when entries after them match the query right now. */
export interface HistorySlice {
  readonly revisions: number[];
  readonly hasMore: boolean;
}

/**
 * The revisions of one page, in stream order (which is commit order within the parent's stream). The
 * cursor names the last revision returned, so pages stay stable while events are appended: new ones
 * only ever come after it.
 */
export function historySlice(timeline: HistoryTimeline, query: HistoryQuery): HistorySlice {
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_HISTORY_LIMIT) {
    throw new ProjectionQueryError(`limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`);
  }
  let start = 0;
  if (query.cursor !== undefined) start = timeline.revisions.upperBound(decodeHistoryCursor(query.cursor));
  if (query.from !== undefined)
    start = Math.max(start, timeline.recordedAtKeys.lowerBound(query.from.getTime()));
  const end =
    query.to !== undefined
      ? timeline.recordedAtKeys.lowerBound(query.to.getTime())
      : timeline.revisions.length;
  const stop = Math.min(end, start + query.limit);
  const revisions: number[] = [];
  for (let i = start; i < stop; i++) revisions.push(timeline.revisions.at(i));
  return { revisions, hasMore: stop < end };
}

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
export function subAccountHistoryEntry(recorded: StoredLedgerEvent): SubAccountHistoryEntry {
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
