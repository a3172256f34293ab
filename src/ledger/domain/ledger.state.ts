import { periodOf, type BillingPeriod } from '../../invoicing';
import { DomainError } from './domain-error';
import type {
  BalancesAfter,
  BillingModel,
  DecimalPrice,
  InvoiceCommit,
  IsoInstant,
  LedgerEvent,
  LotPortion,
  PoolBalances,
  SubAccountBalances,
  UsageRecorded,
  UsageReversed,
} from './ledger.events';
import {
  DEFAULT_LOT_PRIORITY,
  insertInBurnOrder,
  legacyLotId,
  reversed,
  takePortions,
  unusedIn,
  usedIn,
  type LotHolding,
  type LotState,
} from './ledger.lots';

/**
 * The state of one `ledger-<parentId>` stream: everything decide needs for every rule of
 * SPEC §2, and nothing more.
 *
 * evolve MUTATES the state it is given and returns the same object. The application keeps
 * one state per hot parent and folds each decided event into it, so deciding a batch of
 * commands is O(1) per event even with thousands of sub-accounts and a million idempotency
 * keys; copying maps per event would make it O(size). The price: a state that has been
 * evolved with events that then failed to append must be thrown away and reloaded
 * (snapshot + tail). decide never mutates; a refused command leaves the state untouched.
 */
export type LedgerState = {
  parent: ParentState | null;
  subAccounts: Map<string, SubAccountState>;
  apiKeys: Map<string, ApiKeyState>;
  closedPeriods: Set<BillingPeriod>;
  /** Number of InvoiceIssued events, so billing can number invoices per parent. */
  invoicesIssued: number;
  usageKeys: UsageKeyLog;
  /**
   * Usage billed in each period not yet closed, summed as its invoices need it, so closing a
   * period builds them from the state (O(sub-accounts × meters)) instead of re-reading the month.
   * A period's entry is dropped when it closes: issued invoices live in the stream.
   */
  billableUsage: Map<BillingPeriod, PeriodUsage>;
  /** Where each closed period's BillingPeriodClosed and InvoiceIssued events sit in the stream. */
  closings: Map<BillingPeriod, PeriodClosing>;
  /** Revision of the last event folded (-1: none), so a closing can record where it is. */
  lastRevision: number;
  /** Every credit lot by id (SPEC §10). */
  lots: Map<string, LotState>;
  /** The same lots in burn order (`compareLots`). */
  lotOrder: LotState[];
  /**
   * Usage that may still be reversed, and reversals, as far as the reversible-usage index (a read model
   * in PostgreSQL) does not hold them yet: a reversal decides with a lookup of that index plus this tail.
   */
  reversible: ReversibleTail;
};

/** What a reversal needs of one usage record (the credits reversed so far are counted apart). */
export type ReversibleUsage = {
  usageId: string;
  subAccountId: string;
  credits: number;
  meter: string;
  occurredAt: IsoInstant;
  billingPeriod: BillingPeriod;
  late: boolean;
  recordedAtMs: number;
  /** Stream revision of the UsageRecorded. */
  revision: number;
};

/** One reversal as its idempotency key answers it again (per usage: SPEC §10). */
export type ReversalReceipt = {
  usageId: string;
  idempotencyKey: string;
  reversalId: string;
  fingerprint: string;
  credits: number;
  /** When it was recorded: memory without an index forgets it 35 days later, as its usage. */
  reversedAtMs: number;
  /** Stream revision of the UsageReversed. */
  revision: number;
};

/**
 * The part of the stream the reversible-usage index has not committed: usage recorded and reversals
 * of revisions above `indexedThrough`, in revision order in `entries` (dropped from the front once
 * indexed, or after 35 days when no index is used: `indexedThrough` -1).
 */
export type ReversibleTail = {
  usages: Map<string, ReversibleUsage>;
  /** usageId → its reversals in the tail, oldest first (most usage is never reversed). */
  reversals: Map<string, ReversalReceipt[]>;
  entries: (ReversibleUsage | ReversalReceipt)[];
  head: number;
  indexedThrough: number;
};

/**
 * What the reversible-usage index answered for a batch's reversals: the usage records it holds with
 * the credits reversed through `indexedThrough`, and the reversal keys asked for
 * (`reversalKeyOf`), from one committed state of the index.
 */
export type ReversibleUsageLookup = {
  readonly indexedThrough: number;
  readonly usages: ReadonlyMap<string, ReversibleUsage & { readonly reversed: number }>;
  readonly reversals: ReadonlyMap<string, ReversalReceipt>;
};

/** The lookup key of a reversal's idempotency key: keys are per usage record. */
export function reversalKeyOf(usageId: string, idempotencyKey: string): string {
  return `${usageId}\u0000${idempotencyKey}`;
}

/** A reversal of usage of a closed period, billed as a credit line on a later invoice. */
export type CreditReversal = {
  subAccountId: string;
  usageId: string;
  meter: string;
  credits: number;
  unitPrice: DecimalPrice;
  originalPeriod: BillingPeriod;
  originalInvoiceId: string;
};

export type PeriodUsage = {
  /** subAccountId → meter → credits of on-time usage. */
  onTime: Map<string, Map<string, number>>;
  /** Late usage (rule 8) stays per record: its invoice line lists each with its original date. */
  late: LateUsage[];
  /** Reversals of usage of closed periods, credited on this period's invoices. */
  reversals: CreditReversal[];
};

export type LateUsage = {
  subAccountId: string;
  usageId: string;
  meter: string;
  credits: number;
  occurredAt: IsoInstant;
};

export type PeriodClosing = {
  period: BillingPeriod;
  closedAt: IsoInstant;
  /** Revision of the BillingPeriodClosed event; its invoices follow it, in `invoiceIds` order. */
  revision: number;
  invoiceIds: string[];
  /**
   * A close too big for one append: its invoices are where this says, not after it in the ledger
   * stream (`invoiceIds` stays empty).
   */
  invoices?: InvoiceCommit;
};

/** A term that applies from `effectiveFrom` on, until a later entry replaces it. */
export type Term<T> = { effectiveFrom: BillingPeriod; value: T };

export type ParentState = {
  id: string;
  name: string;
  currency: string;
  openedAt: IsoInstant;
  purchased: number;
  allocated: number;
  used: number;
  /** Credits expired with their lots, from the pool and from quotas. */
  expired: number;
  creditPrices: Term<DecimalPrice>[];
  /** Percent of quota at which QuotaThresholdReached is recorded, ascending (SPEC §11). */
  alertThresholds: number[];
  /** PoolBalanceLow below this many available credits; null: never. */
  lowPoolThreshold: number | null;
  /** A PoolBalanceLow was recorded and the pool has not risen back to the threshold since. */
  poolLow: boolean;
};

/** SPEC §11's default thresholds, in percent of quota. */
export const DEFAULT_ALERT_THRESHOLDS: readonly number[] = [80, 100];

export type SubAccountStatus = 'active' | 'closed';

export type SubAccountState = {
  id: string;
  name: string;
  region: string | null;
  status: SubAccountStatus;
  createdAt: IsoInstant;
  closedAt: IsoInstant | null;
  quota: number;
  used: number;
  billingModels: Term<BillingModel>[];
  /** null entries mean "the parent's price". */
  creditPrices: Term<DecimalPrice | null>[];
  keyIds: string[];
  receipts: Map<string, UsageReceipt>;
  /** Its share of each lot: unused credits (Σ = quota − used) and used ones (Σ = used). */
  lots: Map<string, LotHolding>;
  recurring: RecurringAllocation;
  /** Thresholds whose QuotaThresholdReached was recorded and that have not been re-armed since. */
  alerted: Set<number>;
};

/** PUT …/recurring-allocation and what the last period start did with it. */
export type RecurringAllocation = {
  /** null: none (or stopped). */
  credits: number | null;
  /** The last period a recurring allocation was made or failed for (null: never). */
  lastPeriod: BillingPeriod | null;
  /** Credits of that last recurring allocation (0 when it failed): its unused part goes back. */
  lastCredits: number;
};

export type ApiKeyState = {
  keyId: string;
  subAccountId: string | null;
  prefix: string;
  secretHash: string;
  status: 'active' | 'revoked';
  issuedAt: IsoInstant;
  revokedAt: IsoInstant | null;
};

/** What an idempotent repeat of a usage record answers with (rule 5). */
export type UsageReceipt = {
  subAccountId: string;
  idempotencyKey: string;
  usageId: string;
  fingerprint: string;
  remaining: number;
  recordedAtMs: number;
  /** Stream revision of the UsageRecorded, so the key journal can say which revisions it covers. */
  revision: number;
};

/**
 * Receipts in recording order, so expired ones are dropped from the front in amortised O(1)
 * per UsageRecorded instead of by scanning every sub-account, and so are those the key index holds.
 */
export type UsageKeyLog = {
  entries: UsageReceipt[];
  head: number;
  latestRecordedAtMs: number;
  /**
   * The receipts of revisions up to here were dropped from memory because the idempotency-key index
   * (a read model in PostgreSQL) holds them (-1: none was, memory holds every live receipt). Usage is
   * then decided on memory plus a `UsageKeyLookup` of the index reaching at least this far.
   */
  indexedThrough: number;
};

/**
 * What the idempotency-key index answered for a batch's keys: every receipt it holds for them
 * (expired ones too: decide applies the same rule to both), and the revision of the parent's stream it
 * has indexed through. Keyed by `usageKeyOf`.
 */
export type UsageKeyLookup = {
  readonly indexedThrough: number;
  readonly receipts: ReadonlyMap<string, UsageReceipt>;
};

/** The lookup key of an idempotency key: keys are per sub-account (rule 5). */
export function usageKeyOf(subAccountId: string, idempotencyKey: string): string {
  return `${subAccountId}\u0000${idempotencyKey}`;
}

/**
 * Rule 5 asks for at least 35 days. A key recorded at t is honoured while now < t + 35 days,
 * `now` being never earlier than the newest recording folded (a clock set back does not revive
 * keys); after that it is forgotten in memory, in the key journal and in decide alike, so a
 * decision never depends on whether the state came from a snapshot or from the full history.
 */
export const USAGE_KEY_RETENTION_MS = 35 * 24 * 60 * 60 * 1000;

const MAX_KEYS_FORGOTTEN_PER_EVENT = 16;

export function initialLedgerState(): LedgerState {
  return {
    parent: null,
    subAccounts: new Map(),
    apiKeys: new Map(),
    closedPeriods: new Set(),
    invoicesIssued: 0,
    usageKeys: { entries: [], head: 0, latestRecordedAtMs: Number.NEGATIVE_INFINITY, indexedThrough: -1 },
    billableUsage: new Map(),
    closings: new Map(),
    lastRevision: -1,
    lots: new Map(),
    lotOrder: [],
    reversible: { usages: new Map(), reversals: new Map(), entries: [], head: 0, indexedThrough: -1 },
  };
}

/**
 * Folds one event. Events must come in stream order, every one of them (unknown types too):
 * `lastRevision` counts them, and a closing records its revision from it.
 */
export function evolve(state: LedgerState, event: LedgerEvent): LedgerState {
  state.lastRevision += 1;
  apply(state, event);
  rearmAlerts(state, event);
  return state;
}

/** Whether `used` has reached `threshold` percent of `quota` (an empty quota reaches none). */
export function reachesThreshold(quota: number, used: number, threshold: number): boolean {
  return quota > 0 && used * 100 >= threshold * quota;
}

/**
 * Re-arms a sub-account's thresholds once it is back under them (a quota raised, usage reversed) and
 * the pool's once it is back at or above its floor: the next crossing is recorded again. Re-arming
 * records nothing itself (docs/events.md, "Alerts").
 */
function rearmAlerts(state: LedgerState, event: LedgerEvent): void {
  const parent = state.parent;
  if (!parent) return;
  if (parent.poolLow && parent.lowPoolThreshold !== null) {
    if (parent.purchased - parent.allocated - parent.expired >= parent.lowPoolThreshold)
      parent.poolLow = false;
  }
  const subAccountId = (event.data as { subAccountId?: unknown }).subAccountId;
  if (typeof subAccountId !== 'string') return;
  const subAccount = state.subAccounts.get(subAccountId);
  if (!subAccount || subAccount.alerted.size === 0) return;
  for (const threshold of subAccount.alerted) {
    if (!reachesThreshold(subAccount.quota, subAccount.used, threshold)) subAccount.alerted.delete(threshold);
  }
}

function apply(state: LedgerState, event: LedgerEvent): LedgerState {
  switch (event.type) {
    case 'ParentAccountOpened': {
      const { parentId, name, currency, creditPrice, openedAt } = event.data;
      state.parent = {
        id: parentId,
        name,
        currency,
        openedAt,
        purchased: 0,
        allocated: 0,
        used: 0,
        expired: 0,
        creditPrices: [{ effectiveFrom: periodOf(new Date(openedAt)), value: creditPrice }],
        alertThresholds: [...DEFAULT_ALERT_THRESHOLDS],
        lowPoolThreshold: null,
        poolLow: false,
      };
      return state;
    }
    case 'ParentAccountRenamed':
      parentOf(state).name = event.data.name;
      return state;
    case 'CreditsPurchased': {
      const data = event.data;
      parentOf(state).purchased += data.credits;
      const expiresAt = data.expiresAt ?? null;
      const lot: LotState = {
        lotId: data.lotId ?? legacyLotId(state.lastRevision),
        kind: data.kind ?? 'paid',
        credits: data.credits,
        expiresAt,
        expiresAtMs: expiresAt === null ? Number.POSITIVE_INFINITY : Date.parse(expiresAt),
        priority: data.priority ?? DEFAULT_LOT_PRIORITY,
        purchasedAt: data.purchasedAt,
        purchasedAtMs: Date.parse(data.purchasedAt),
        reference: data.reference,
        pool: data.credits,
        inQuotas: 0,
        used: 0,
        expired: 0,
        lapsed: false,
      };
      state.lots.set(lot.lotId, lot);
      insertInBurnOrder(state.lotOrder, lot);
      return state;
    }
    case 'SubAccountCreated': {
      const { subAccountId, name, region, billingModel, creditPrice, createdAt } = event.data;
      const since = periodOf(new Date(createdAt));
      state.subAccounts.set(subAccountId, {
        id: subAccountId,
        name,
        region,
        status: 'active',
        createdAt,
        closedAt: null,
        quota: 0,
        used: 0,
        billingModels: [{ effectiveFrom: since, value: billingModel }],
        creditPrices: [{ effectiveFrom: since, value: creditPrice }],
        keyIds: [],
        receipts: new Map(),
        lots: new Map(),
        recurring: { credits: null, lastPeriod: null, lastCredits: 0 },
        alerted: new Set(),
      });
      return state;
    }
    case 'SubAccountRenamed':
      subAccountOf(state, event.data.subAccountId).name = event.data.name;
      return state;
    case 'QuotaAllocated': {
      const subAccount = subAccountOf(state, event.data.subAccountId);
      const portions = event.data.portions ?? allocationPortions(state, event.data.credits);
      for (const { lotId, credits } of portions) {
        const lot = lotOf(state, lotId);
        lot.pool -= credits;
        lot.inQuotas += credits;
        holdingOf(subAccount, lotId).unused += credits;
      }
      subAccount.quota += event.data.credits;
      parentOf(state).allocated += event.data.credits;
      if (event.data.reason === 'recurring') {
        subAccount.recurring.lastPeriod = event.data.period ?? subAccount.recurring.lastPeriod;
        subAccount.recurring.lastCredits = event.data.credits;
      }
      return state;
    }
    case 'CreditsReturned': {
      const subAccount = subAccountOf(state, event.data.subAccountId);
      giveBack(
        state,
        subAccount,
        event.data.portions ?? returnPortions(state, subAccount, event.data.credits),
      );
      subAccount.quota -= event.data.credits;
      parentOf(state).allocated -= event.data.credits;
      return state;
    }
    case 'UsageRecorded': {
      const { subAccountId, credits, idempotencyKey, usageId, fingerprint, recordedAt } = event.data;
      const subAccount = subAccountOf(state, subAccountId);
      const portions =
        event.data.portions ??
        usagePortions(state, subAccount, credits, Date.parse(event.data.occurredAt)) ??
        [];
      for (const portion of portions) {
        const lot = lotOf(state, portion.lotId);
        const holding = holdingOf(subAccount, portion.lotId);
        holding.unused -= portion.credits;
        holding.used += portion.credits;
        lot.inQuotas -= portion.credits;
        lot.used += portion.credits;
      }
      subAccount.used += credits;
      parentOf(state).used += credits;
      const receipt: UsageReceipt = {
        subAccountId,
        idempotencyKey,
        usageId,
        fingerprint,
        remaining: subAccount.quota - subAccount.used,
        recordedAtMs: Date.parse(recordedAt),
        revision: state.lastRevision,
      };
      subAccount.receipts.set(idempotencyKey, receipt);
      rememberUsageKey(state, receipt);
      rememberUsage(state, event.data, receipt.recordedAtMs);
      addBillableUsage(state, event.data);
      return state;
    }
    case 'BillingModelChanged': {
      const { subAccountId, billingModel, effectiveFrom } = event.data;
      setTerm(subAccountOf(state, subAccountId).billingModels, effectiveFrom, billingModel);
      return state;
    }
    case 'CreditPriceChanged':
      if (event.data.scope === 'parent') {
        setTerm(parentOf(state).creditPrices, event.data.effectiveFrom, event.data.creditPrice);
      } else {
        const subAccount = subAccountOf(state, event.data.subAccountId);
        setTerm(subAccount.creditPrices, event.data.effectiveFrom, event.data.creditPrice);
      }
      return state;
    case 'ApiKeyIssued': {
      const { keyId, subAccountId, prefix, secretHash, issuedAt } = event.data;
      state.apiKeys.set(keyId, {
        keyId,
        subAccountId,
        prefix,
        secretHash,
        status: 'active',
        issuedAt,
        revokedAt: null,
      });
      if (subAccountId !== null) subAccountOf(state, subAccountId).keyIds.push(keyId);
      return state;
    }
    case 'ApiKeyRevoked': {
      const key = state.apiKeys.get(event.data.keyId);
      if (!key) throw new Error(`ApiKeyRevoked for unknown key ${event.data.keyId}`);
      key.status = 'revoked';
      key.revokedAt = event.data.revokedAt;
      return state;
    }
    case 'SubAccountClosed': {
      const subAccount = subAccountOf(state, event.data.subAccountId);
      giveBack(
        state,
        subAccount,
        event.data.portions ?? returnPortions(state, subAccount, event.data.returnedCredits),
      );
      subAccount.recurring.credits = null;
      subAccount.quota -= event.data.returnedCredits;
      parentOf(state).allocated -= event.data.returnedCredits;
      subAccount.status = 'closed';
      subAccount.closedAt = event.data.closedAt;
      return state;
    }
    case 'BillingPeriodClosed': {
      const { period, closedAt, invoices } = event.data;
      state.closedPeriods.add(period);
      state.billableUsage.delete(period);
      if (invoices === undefined) {
        state.closings.set(period, { period, closedAt, revision: state.lastRevision, invoiceIds: [] });
        return state;
      }
      // A committed close: its invoices are in `ledgerinvoices-<parentId>`, where `invoices` says.
      state.invoicesIssued += invoices.count;
      state.closings.set(period, {
        period,
        closedAt,
        revision: state.lastRevision,
        invoiceIds: [],
        invoices,
      });
      return state;
    }
    case 'InvoiceIssued':
      state.invoicesIssued += 1;
      state.closings.get(event.data.period)?.invoiceIds.push(event.data.invoiceId);
      return state;
    case 'CreditsExpired': {
      const { lotId, fromPool, fromSubAccounts, credits } = event.data;
      const lot = lotOf(state, lotId);
      const parent = parentOf(state);
      lot.pool -= fromPool;
      for (const from of fromSubAccounts) {
        const subAccount = subAccountOf(state, from.subAccountId);
        holdingOf(subAccount, lotId).unused -= from.credits;
        lot.inQuotas -= from.credits;
        subAccount.quota -= from.credits;
        parent.allocated -= from.credits;
      }
      lot.expired += credits;
      lot.lapsed = true;
      parent.expired += credits;
      return state;
    }
    case 'RecurringAllocationSet':
      subAccountOf(state, event.data.subAccountId).recurring.credits = event.data.credits;
      return state;
    case 'RecurringAllocationFailed': {
      const recurring = subAccountOf(state, event.data.subAccountId).recurring;
      recurring.lastPeriod = event.data.period;
      recurring.lastCredits = 0;
      return state;
    }
    case 'UsageReversed':
      applyReversal(state, event.data);
      return state;
    case 'AlertThresholdsChanged': {
      const parent = parentOf(state);
      parent.alertThresholds = [...event.data.alertThresholds];
      parent.lowPoolThreshold = event.data.lowPoolThreshold;
      // A level already passed when it is set is not a crossing: it alerts after it is re-armed.
      parent.poolLow =
        parent.lowPoolThreshold !== null &&
        parent.purchased - parent.allocated - parent.expired < parent.lowPoolThreshold;
      for (const subAccount of state.subAccounts.values()) {
        subAccount.alerted = new Set(
          parent.alertThresholds.filter((t) => reachesThreshold(subAccount.quota, subAccount.used, t)),
        );
      }
      return state;
    }
    case 'QuotaThresholdReached':
      subAccountOf(state, event.data.subAccountId).alerted.add(event.data.threshold);
      return state;
    case 'PoolBalanceLow':
      parentOf(state).poolLow = true;
      return state;
    default:
      // A type added by a newer version of the service: an older reader leaves state alone.
      return state;
  }
}

function periodUsageOf(state: LedgerState, period: BillingPeriod): PeriodUsage {
  let usage = state.billableUsage.get(period);
  if (!usage) {
    usage = { onTime: new Map(), late: [], reversals: [] };
    state.billableUsage.set(period, usage);
  }
  return usage;
}

function addBillableUsage(state: LedgerState, data: UsageRecorded['data']): void {
  const usage = periodUsageOf(state, data.billingPeriod);
  if (data.late) {
    const { subAccountId, usageId, meter, credits, occurredAt } = data;
    usage.late.push({ subAccountId, usageId, meter, credits, occurredAt });
    return;
  }
  let meters = usage.onTime.get(data.subAccountId);
  if (!meters) {
    meters = new Map();
    usage.onTime.set(data.subAccountId, meters);
  }
  meters.set(data.meter, (meters.get(data.meter) ?? 0) + data.credits);
}

/** For decisions and reads: a missing parent is the caller's not_found, not a bug. */
export function requireParent(state: LedgerState): ParentState {
  if (!state.parent) throw new DomainError('not_found', 'parent account not found');
  return state.parent;
}

export function requireSubAccount(state: LedgerState, subAccountId: unknown): SubAccountState {
  const subAccount = typeof subAccountId === 'string' ? state.subAccounts.get(subAccountId) : undefined;
  if (!subAccount) throw new DomainError('not_found', `sub-account ${String(subAccountId)} not found`);
  return subAccount;
}

export function parentOf(state: LedgerState): ParentState {
  if (!state.parent) throw new Error('ledger event before ParentAccountOpened');
  return state.parent;
}

function subAccountOf(state: LedgerState, subAccountId: string): SubAccountState {
  const subAccount = state.subAccounts.get(subAccountId);
  if (!subAccount) throw new Error(`ledger event for unknown sub-account ${subAccountId}`);
  return subAccount;
}

export function poolBalances(parent: ParentState): PoolBalances {
  return {
    purchased: parent.purchased,
    allocated: parent.allocated,
    available: parent.purchased - parent.allocated - parent.expired,
    used: parent.used,
    expired: parent.expired,
  };
}

export function subAccountBalances(subAccount: SubAccountState): SubAccountBalances {
  return { quota: subAccount.quota, used: subAccount.used, remaining: subAccount.quota - subAccount.used };
}

export function balancesAfter(subAccount: SubAccountState, parent: ParentState): BalancesAfter {
  return { subAccount: subAccountBalances(subAccount), pool: poolBalances(parent) };
}

/** The term in force in `period`; periods before the first entry get the first entry's. */
export function termAt<T>(history: readonly Term<T>[], period: BillingPeriod): T {
  for (let index = history.length - 1; index > 0; index--) {
    if (history[index].effectiveFrom <= period) return history[index].value;
  }
  return history[0].value;
}

/** Several changes decided in one period all target the next: the last one wins. */
function setTerm<T>(history: Term<T>[], effectiveFrom: BillingPeriod, value: T): void {
  let index = history.length;
  while (index > 0 && history[index - 1].effectiveFrom > effectiveFrom) index--;
  if (index > 0 && history[index - 1].effectiveFrom === effectiveFrom) history[index - 1].value = value;
  else history.splice(index, 0, { effectiveFrom, value });
}

export function isUsageKeyLive(receipt: UsageReceipt, nowMs: number): boolean {
  return nowMs < receipt.recordedAtMs + USAGE_KEY_RETENTION_MS;
}

/**
 * The receipt decide honours for `idempotencyKey`, if any is still live at `nowMs`: the newer of the
 * one in memory and the one the key index holds. Once memory has dropped what the index holds, a
 * decision without a lookup reaching that far could miss a key, so it is refused as a bug.
 */
export function liveReceipt(
  state: LedgerState,
  subAccount: SubAccountState,
  idempotencyKey: string,
  nowMs: number,
  lookup?: UsageKeyLookup,
): UsageReceipt | undefined {
  const indexedThrough = state.usageKeys.indexedThrough;
  if (indexedThrough >= 0 && (!lookup || lookup.indexedThrough < indexedThrough)) {
    throw new Error(
      `usage decided without the key index through revision ${indexedThrough} ` +
        `(looked up through ${lookup ? lookup.indexedThrough : 'none'})`,
    );
  }
  let receipt = subAccount.receipts.get(idempotencyKey);
  const indexed = lookup?.receipts.get(usageKeyOf(subAccount.id, idempotencyKey));
  if (indexed && (!receipt || indexed.revision > receipt.revision)) receipt = indexed;
  if (!receipt) return undefined;
  return isUsageKeyLive(receipt, Math.max(nowMs, state.usageKeys.latestRecordedAtMs)) ? receipt : undefined;
}

/**
 * Drops from memory the receipts of revisions up to `through`, which the key index has committed:
 * from then on usage is decided with a lookup of the index (`liveReceipt`). Called between batches,
 * never during a decision; `through` may only grow.
 */
export function forgetIndexedUsageKeys(state: LedgerState, through: number): void {
  const log = state.usageKeys;
  if (through <= log.indexedThrough) return;
  log.indexedThrough = through;
  while (log.head < log.entries.length && log.entries[log.head].revision <= through) {
    forget(state, log.entries[log.head]);
    log.head++;
  }
  compact(log);
}

function rememberUsageKey(state: LedgerState, receipt: UsageReceipt): void {
  const log = state.usageKeys;
  log.entries.push(receipt);
  if (receipt.recordedAtMs > log.latestRecordedAtMs) log.latestRecordedAtMs = receipt.recordedAtMs;
  // Bounded per event so that a clock jump expiring a million keys at once never stalls one
  // append; forgetting still outpaces remembering, and decide ignores expired keys meanwhile.
  for (
    let budget = MAX_KEYS_FORGOTTEN_PER_EVENT;
    budget > 0 &&
    log.head < log.entries.length &&
    !isUsageKeyLive(log.entries[log.head], log.latestRecordedAtMs);
    budget--
  ) {
    forget(state, log.entries[log.head]);
    log.head++;
  }
  compact(log);
}

/** Compacts only when the dead prefix dominates, so the copy is paid for by the removals. */
function compact(log: UsageKeyLog): void {
  if (log.head > 1024 && log.head * 2 > log.entries.length) {
    log.entries = log.entries.slice(log.head);
    log.head = 0;
  }
}

function forget(state: LedgerState, receipt: UsageReceipt): void {
  const receipts = state.subAccounts.get(receipt.subAccountId)?.receipts;
  // The key may have been reused after it expired; only the receipt itself is removed.
  if (receipts?.get(receipt.idempotencyKey) === receipt) receipts.delete(receipt.idempotencyKey);
}

function lotOf(state: LedgerState, lotId: string): LotState {
  const lot = state.lots.get(lotId);
  if (!lot) throw new Error(`ledger event for unknown lot ${lotId}`);
  return lot;
}

function holdingOf(subAccount: SubAccountState, lotId: string): LotHolding {
  let holding = subAccount.lots.get(lotId);
  if (!holding) {
    holding = { unused: 0, used: 0 };
    subAccount.lots.set(lotId, holding);
  }
  return holding;
}

function giveBack(state: LedgerState, subAccount: SubAccountState, portions: readonly LotPortion[]): void {
  for (const { lotId, credits } of portions) {
    const lot = lotOf(state, lotId);
    holdingOf(subAccount, lotId).unused -= credits;
    lot.inQuotas -= credits;
    lot.pool += credits;
  }
}

/** Lots whose expiresAt is after `atMs` (those without expiry always are). */
export function liveAt(atMs: number): (lot: LotState) => boolean {
  return (lot) => lot.expiresAtMs > atMs;
}

/**
 * An allocation takes the pool's lots in burn order, leaving out those already past their expiresAt
 * at `nowMs` (grace is for late usage, not for new quota). Null when they hold too few.
 */
export function allocationPortions(
  state: LedgerState,
  credits: number,
  nowMs: number = Number.NEGATIVE_INFINITY,
): LotPortion[] {
  return takePortions(state.lotOrder, credits, (lot) => lot.pool, liveAt(nowMs)) ?? [];
}

/** Usage consumes the sub-account's unused portions in burn order, of lots alive when it occurred. */
export function usagePortions(
  state: LedgerState,
  subAccount: SubAccountState,
  credits: number,
  occurredAtMs: number,
): LotPortion[] | null {
  return takePortions(state.lotOrder, credits, (lot) => unusedIn(subAccount.lots, lot), liveAt(occurredAtMs));
}

/** A return gives back the unused portions that would burn last. */
export function returnPortions(
  state: LedgerState,
  subAccount: SubAccountState,
  credits: number,
): LotPortion[] {
  return takePortions(reversed(state.lotOrder), credits, (lot) => unusedIn(subAccount.lots, lot)) ?? [];
}

/** A reversal gives back to the quota the used portions that would burn last. */
export function reversalPortions(
  state: LedgerState,
  subAccount: SubAccountState,
  credits: number,
): LotPortion[] {
  return takePortions(reversed(state.lotOrder), credits, (lot) => usedIn(subAccount.lots, lot)) ?? [];
}

function rememberUsage(state: LedgerState, data: UsageRecorded['data'], recordedAtMs: number): void {
  const usage: ReversibleUsage = {
    usageId: data.usageId,
    subAccountId: data.subAccountId,
    credits: data.credits,
    meter: data.meter,
    occurredAt: data.occurredAt,
    billingPeriod: data.billingPeriod,
    late: data.late,
    recordedAtMs,
    revision: state.lastRevision,
  };
  const tail = state.reversible;
  pushToTail(tail, usage);
  // Without the index memory is the only record: it forgets what is 35 days old, a few per event.
  const latest = state.usageKeys.latestRecordedAtMs;
  for (
    let budget = MAX_KEYS_FORGOTTEN_PER_EVENT;
    budget > 0 && tail.head < tail.entries.length && !isTailEntryLive(tail.entries[tail.head], latest);
    budget--
  ) {
    forgetTailEntry(tail);
  }
  compactTail(tail);
}

function rememberReversal(state: LedgerState, data: UsageReversed['data']): void {
  const receipt: ReversalReceipt = {
    usageId: data.usageId,
    idempotencyKey: data.idempotencyKey,
    reversalId: data.reversalId,
    fingerprint: data.fingerprint,
    credits: data.credits,
    reversedAtMs: Date.parse(data.reversedAt),
    revision: state.lastRevision,
  };
  pushToTail(state.reversible, receipt);
}

/** Appends a usage record or a reversal to the tail, in revision order (fold, snapshot restore). */
export function pushToTail(tail: ReversibleTail, entry: ReversibleUsage | ReversalReceipt): void {
  tail.entries.push(entry);
  if (!('reversalId' in entry)) {
    tail.usages.set(entry.usageId, entry);
    return;
  }
  const reversals = tail.reversals.get(entry.usageId);
  if (reversals) reversals.push(entry);
  else tail.reversals.set(entry.usageId, [entry]);
}

/** Whether 35 days have not yet expired a tail entry (its usage, or its reversal). */
export function isTailEntryLive(entry: ReversibleUsage | ReversalReceipt, nowMs: number): boolean {
  return nowMs < ('reversalId' in entry ? entry.reversedAtMs : entry.recordedAtMs) + USAGE_KEY_RETENTION_MS;
}

/** Drops the oldest entry of the tail (entries are in revision order, so is each usage's list). */
function forgetTailEntry(tail: ReversibleTail): void {
  const entry = tail.entries[tail.head];
  tail.head++;
  if (!('reversalId' in entry)) {
    if (tail.usages.get(entry.usageId) === entry) tail.usages.delete(entry.usageId);
    return;
  }
  const reversals = tail.reversals.get(entry.usageId);
  if (!reversals) return;
  if (reversals[0] === entry) reversals.shift();
  if (reversals.length === 0) tail.reversals.delete(entry.usageId);
}

function compactTail(tail: ReversibleTail): void {
  if (tail.head > 1024 && tail.head * 2 > tail.entries.length) {
    tail.entries = tail.entries.slice(tail.head);
    tail.head = 0;
  }
}

/**
 * Drops from memory the usage and reversals of revisions up to `through`, which the reversible-usage
 * index has committed: from then on a reversal is decided with a lookup of the index
 * (`findReversibleUsage`). Called between batches, never during a decision; `through` may only grow.
 */
export function forgetIndexedReversibleUsage(state: LedgerState, through: number): void {
  const tail = state.reversible;
  if (through <= tail.indexedThrough) return;
  tail.indexedThrough = through;
  while (tail.head < tail.entries.length && tail.entries[tail.head].revision <= through)
    forgetTailEntry(tail);
  compactTail(tail);
}

/** A usage may be reversed while its idempotency key is remembered (35 days after it was recorded). */
export function isUsageReversible(usage: ReversibleUsage, nowMs: number): boolean {
  return nowMs < usage.recordedAtMs + USAGE_KEY_RETENTION_MS;
}

/** One usage record as a reversal finds it: the index's row and memory's tail together. */
export type FoundUsage = {
  usage: ReversibleUsage;
  /** Credits reversed so far. */
  reversed: number;
  /** The reversal recorded with this idempotency key for this usage, if any. */
  reversal(idempotencyKey: string): ReversalReceipt | undefined;
};

/**
 * The usage `usageId` as decide sees it: the index's row (with what was reversed through the index's
 * head) and memory's usage and reversals above that head, each counted once. Once memory has dropped
 * what the index holds, a decision without a lookup reaching that far could miss a usage or count a
 * reversal twice, so it is refused as a bug.
 */
export function findReversibleUsage(
  state: LedgerState,
  usageId: string,
  lookup?: ReversibleUsageLookup,
): FoundUsage | undefined {
  const tail = state.reversible;
  if (tail.indexedThrough >= 0 && (!lookup || lookup.indexedThrough < tail.indexedThrough)) {
    throw new Error(
      `a reversal decided without the reversible-usage index through revision ${tail.indexedThrough} ` +
        `(looked up through ${lookup ? lookup.indexedThrough : 'none'})`,
    );
  }
  const through = lookup ? lookup.indexedThrough : -1;
  const indexed = lookup?.usages.get(usageId);
  const usage = indexed ?? tail.usages.get(usageId);
  if (!usage) return undefined;
  const newer = (tail.reversals.get(usageId) ?? []).filter((reversal) => reversal.revision > through);
  let reversed = indexed ? indexed.reversed : 0;
  for (const reversal of newer) reversed += reversal.credits;
  return {
    usage,
    reversed,
    reversal: (idempotencyKey) =>
      newer.find((reversal) => reversal.idempotencyKey === idempotencyKey) ??
      lookup?.reversals.get(reversalKeyOf(usageId, idempotencyKey)),
  };
}

function applyReversal(state: LedgerState, data: UsageReversed['data']): void {
  const subAccount = subAccountOf(state, data.subAccountId);
  for (const { lotId, credits } of data.portions) {
    const lot = lotOf(state, lotId);
    const holding = holdingOf(subAccount, lotId);
    holding.used -= credits;
    holding.unused += credits;
    lot.used -= credits;
    lot.inQuotas += credits;
  }
  subAccount.used -= data.credits;
  parentOf(state).used -= data.credits;
  rememberReversal(state, data);
  if (data.creditLine !== null) {
    periodUsageOf(state, data.creditLine.period).reversals.push({
      subAccountId: data.subAccountId,
      usageId: data.usageId,
      meter: data.meter,
      credits: data.credits,
      unitPrice: data.creditLine.unitPrice,
      originalPeriod: data.originalPeriod,
      originalInvoiceId: data.creditLine.originalInvoiceId,
    });
    return;
  }
  subtractBillableUsage(state.billableUsage.get(data.originalPeriod), data);
}

/**
 * The draft of an open period loses reversed credits: from the on-time total of the usage's meter, or
 * from its own late record. The replay does the same from the events (billing/period-replay.ts).
 */
export function subtractBillableUsage(
  usage: { onTime: Map<string, Map<string, number | bigint>>; late: LateUsage[] } | undefined,
  data: Pick<UsageReversed['data'], 'subAccountId' | 'usageId' | 'meter' | 'credits'>,
): void {
  if (!usage) return;
  const lateIndex = usage.late.findIndex((record) => record.usageId === data.usageId);
  if (lateIndex >= 0) {
    const record = usage.late[lateIndex];
    usage.late[lateIndex] = { ...record, credits: record.credits - data.credits };
    return;
  }
  const meters = usage.onTime.get(data.subAccountId);
  const total = meters?.get(data.meter);
  if (meters && total !== undefined) {
    meters.set(data.meter, typeof total === 'bigint' ? total - BigInt(data.credits) : total - data.credits);
  }
}
