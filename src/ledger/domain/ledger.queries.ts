import { nextPeriod, periodOf, type BillingPeriod } from '../../invoicing';
import { DomainError } from './domain-error';
import type { BillingModel, DecimalPrice, IsoInstant, LotKind, PoolBalances } from './ledger.events';
import { samePrice } from './ledger.validation';
import {
  poolBalances,
  requireParent,
  requireSubAccount,
  subAccountBalances,
  termAt,
  type ApiKeyState,
  type LedgerState,
  type SubAccountState,
  type SubAccountStatus,
} from './ledger.state';

/*
 * Pure reads over the decider's state for the HTTP layer. Anything time-dependent takes `now`
 * from the service clock, like decide does.
 */

export type ParentView = {
  id: string;
  name: string;
  currency: string;
  /** The price of the current period. */
  creditPrice: DecimalPrice;
  /** Present when a different price takes effect next period. */
  pendingCreditPrice?: DecimalPrice;
  /** The period the pending price applies from (the next one), present with it. */
  pendingEffectiveFrom?: BillingPeriod;
  openedAt: IsoInstant;
  pool: PoolBalances;
  alertThresholds: number[];
  lowPoolThreshold: number | null;
};

export function parentView(state: LedgerState, now: Date): ParentView {
  const parent = requireParent(state);
  const current = periodOf(now);
  const creditPrice = termAt(parent.creditPrices, current);
  const next = nextPeriod(current);
  const pending = termAt(parent.creditPrices, next);
  return {
    id: parent.id,
    name: parent.name,
    currency: parent.currency,
    creditPrice,
    ...(samePrice(pending, creditPrice) ? {} : { pendingCreditPrice: pending, pendingEffectiveFrom: next }),
    openedAt: parent.openedAt,
    pool: poolBalances(parent),
    alertThresholds: [...parent.alertThresholds],
    lowPoolThreshold: parent.lowPoolThreshold,
  };
}

export type SubAccountView = {
  id: string;
  name: string;
  region: string | null;
  status: SubAccountStatus;
  /** The model of the current period. */
  billingModel: BillingModel;
  /** Present when a different model takes effect next period. */
  pendingBillingModel?: BillingModel;
  quota: number;
  used: number;
  remaining: number;
  /** Unused credits of lots with an expiry, per expiresAt, soonest first (SPEC §10). */
  expiring: { expiresAt: IsoInstant; credits: number }[];
  /** Credits allocated again at each period start; null: none. */
  recurringAllocation: number | null;
  createdAt: IsoInstant;
  closedAt: IsoInstant | null;
};

export function subAccountView(state: LedgerState, subAccountId: string, now: Date): SubAccountView {
  return viewOf(state, requireSubAccount(state, subAccountId), periodOf(now));
}

function expiringOf(state: LedgerState, subAccount: SubAccountState): SubAccountView['expiring'] {
  const byInstant = new Map<IsoInstant, number>();
  for (const [lotId, holding] of subAccount.lots) {
    const lot = state.lots.get(lotId);
    if (!lot || lot.expiresAt === null || holding.unused === 0) continue;
    byInstant.set(lot.expiresAt, (byInstant.get(lot.expiresAt) ?? 0) + holding.unused);
  }
  return [...byInstant]
    .sort(([a], [b]) => Date.parse(a) - Date.parse(b))
    .map(([expiresAt, credits]) => ({ expiresAt, credits }));
}

export type LotView = {
  lotId: string;
  kind: LotKind;
  credits: number;
  /** Neither used nor expired: in the pool and unused in quotas. */
  remaining: number;
  inPool: number;
  inQuotas: number;
  used: number;
  expired: number;
  expiresAt: IsoInstant | null;
  priority: number;
  reference: string | null;
  purchasedAt: IsoInstant;
};

/** The parent's lots in burn order. */
export function lotsOf(state: LedgerState): LotView[] {
  requireParent(state);
  return state.lotOrder.map((lot) => ({
    lotId: lot.lotId,
    kind: lot.kind,
    credits: lot.credits,
    remaining: lot.pool + lot.inQuotas,
    inPool: lot.pool,
    inQuotas: lot.inQuotas,
    used: lot.used,
    expired: lot.expired,
    expiresAt: lot.expiresAt,
    priority: lot.priority,
    reference: lot.reference,
    purchasedAt: lot.purchasedAt,
  }));
}

function viewOf(state: LedgerState, subAccount: SubAccountState, current: BillingPeriod): SubAccountView {
  const billingModel = termAt(subAccount.billingModels, current);
  const pending = termAt(subAccount.billingModels, nextPeriod(current));
  return {
    id: subAccount.id,
    name: subAccount.name,
    region: subAccount.region,
    status: subAccount.status,
    billingModel,
    ...(pending === billingModel ? {} : { pendingBillingModel: pending }),
    ...subAccountBalances(subAccount),
    expiring: expiringOf(state, subAccount),
    recurringAllocation: subAccount.recurring.credits,
    createdAt: subAccount.createdAt,
    closedAt: subAccount.closedAt,
  };
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

export type SubAccountPage = { items: SubAccountView[]; nextCursor: string | null };

// Sub-accounts are never removed, so a cached id list is stale exactly when its length differs
// from the map's; keeping it outside the state keeps the state plain data for snapshots.
const sortedIdsCache = new WeakMap<LedgerState, string[]>();

/**
 * Sub-accounts in id order; the cursor is opaque to clients (the last id, encoded). With `idPrefix`
 * only the ids that start with it, found by binary search in the sorted ids, so a search costs the
 * same at 100,000 sub-accounts as at ten.
 */
export function listSubAccounts(
  state: LedgerState,
  now: Date,
  {
    cursor,
    limit = DEFAULT_PAGE_SIZE,
    idPrefix,
  }: { cursor?: string; limit?: number; idPrefix?: string } = {},
): SubAccountPage {
  requireParent(state);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new DomainError('validation_failed', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  const ids = sortedIds(state);
  let start = cursor === undefined ? 0 : firstIndexAfter(ids, decodeCursor(cursor));
  let end = ids.length;
  if (idPrefix !== undefined) {
    start = Math.max(start, firstIndexNotBefore(ids, idPrefix));
    end = start;
    while (end < ids.length && end <= start + limit && ids[end].startsWith(idPrefix)) end += 1;
  }
  const pageIds = ids.slice(start, Math.min(start + limit, end));
  const current = periodOf(now);
  return {
    items: pageIds.map((id) => viewOf(state, state.subAccounts.get(id)!, current)),
    nextCursor: start + limit < end ? encodeCursor(pageIds[pageIds.length - 1]) : null,
  };
}

function sortedIds(state: LedgerState): string[] {
  let ids = sortedIdsCache.get(state);
  if (!ids || ids.length !== state.subAccounts.size) {
    ids = [...state.subAccounts.keys()].sort(compareIds);
    sortedIdsCache.set(state, ids);
  }
  return ids;
}

// Code-unit order, not locale order, so pages are stable whatever the server's locale.
function compareIds(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

function firstIndexAfter(ids: readonly string[], after: string): number {
  return firstIndexWhere(ids, (id) => id > after);
}

function firstIndexNotBefore(ids: readonly string[], value: string): number {
  return firstIndexWhere(ids, (id) => id >= value);
}

/** Binary search in sorted ids for the first one `reached` holds for (it holds for every one after). */
function firstIndexWhere(ids: readonly string[], reached: (id: string) => boolean): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (reached(ids[middle])) high = middle;
    else low = middle + 1;
  }
  return low;
}

function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      typeof decoded === 'object' &&
      decoded !== null &&
      typeof (decoded as { after?: unknown }).after === 'string'
    ) {
      return (decoded as { after: string }).after;
    }
  } catch {
    // falls through to the refusal below
  }
  throw new DomainError('validation_failed', 'cursor is not one this API returned');
}

export type Terms = { billingModel: BillingModel; creditPrice: DecimalPrice; currency: string };

/**
 * Rule 7, for billing: the terms a sub-account is invoiced under in `period`. Its own price if
 * it has one in force then, otherwise the parent's price of that period.
 */
export function termsFor(state: LedgerState, subAccountId: string, period: BillingPeriod): Terms {
  const parent = requireParent(state);
  const subAccount = requireSubAccount(state, subAccountId);
  return {
    billingModel: termAt(subAccount.billingModels, period),
    creditPrice: termAt(subAccount.creditPrices, period) ?? termAt(parent.creditPrices, period),
    currency: parent.currency,
  };
}

export type ApiKeyView = Omit<ApiKeyState, 'secretHash'>;

/** The keys of a sub-account, or the parent's own keys for null; never the hashes. */
export function apiKeysOf(state: LedgerState, subAccountId: string | null): ApiKeyView[] {
  requireParent(state);
  const keys =
    subAccountId === null
      ? [...state.apiKeys.values()].filter((key) => key.subAccountId === null)
      : requireSubAccount(state, subAccountId).keyIds.map((keyId) => state.apiKeys.get(keyId)!);
  return keys.map(({ secretHash: _secretHash, ...view }) => view);
}

export type BillingPeriodView = { period: BillingPeriod; status: 'open' | 'closed' };

/** Every period from the parent's opening to the current one, oldest first. */
export function billingPeriods(state: LedgerState, now: Date): BillingPeriodView[] {
  const parent = requireParent(state);
  const current = periodOf(now);
  const periods: BillingPeriodView[] = [];
  for (let period = periodOf(new Date(parent.openedAt)); period <= current; period = nextPeriod(period)) {
    periods.push({ period, status: state.closedPeriods.has(period) ? 'closed' : 'open' });
  }
  return periods;
}
