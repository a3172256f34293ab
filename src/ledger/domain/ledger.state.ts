import { periodOf, type BillingPeriod } from '../../invoicing';
import { DomainError } from './domain-error';
import type {
  BalancesAfter,
  BillingModel,
  DecimalPrice,
  InvoiceCommit,
  IsoInstant,
  LedgerEvent,
  PoolBalances,
  SubAccountBalances,
  UsageRecorded,
} from './ledger.events';

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
};

export type PeriodUsage = {
  /** subAccountId → meter → credits of on-time usage. */
  onTime: Map<string, Map<string, number>>;
  /** Late usage (rule 8) stays per record: its invoice line lists each with its original date. */
  late: LateUsage[];
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
  creditPrices: Term<DecimalPrice>[];
};

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
  };
}

/**
 * Folds one event. Events must come in stream order, every one of them (unknown types too):
 * `lastRevision` counts them, and a closing records its revision from it.
 */
export function evolve(state: LedgerState, event: LedgerEvent): LedgerState {
  state.lastRevision += 1;
  return apply(state, event);
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
        creditPrices: [{ effectiveFrom: periodOf(new Date(openedAt)), value: creditPrice }],
      };
      return state;
    }
    case 'ParentAccountRenamed':
      parentOf(state).name = event.data.name;
      return state;
    case 'CreditsPurchased':
      parentOf(state).purchased += event.data.credits;
      return state;
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
      });
      return state;
    }
    case 'SubAccountRenamed':
      subAccountOf(state, event.data.subAccountId).name = event.data.name;
      return state;
    case 'QuotaAllocated':
      subAccountOf(state, event.data.subAccountId).quota += event.data.credits;
      parentOf(state).allocated += event.data.credits;
      return state;
    case 'CreditsReturned':
      subAccountOf(state, event.data.subAccountId).quota -= event.data.credits;
      parentOf(state).allocated -= event.data.credits;
      return state;
    case 'UsageRecorded': {
      const { subAccountId, credits, idempotencyKey, usageId, fingerprint, recordedAt } = event.data;
      const subAccount = subAccountOf(state, subAccountId);
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
    default:
      // A type added by a newer version of the service: an older reader leaves state alone.
      return state;
  }
}

function addBillableUsage(state: LedgerState, data: UsageRecorded['data']): void {
  let usage = state.billableUsage.get(data.billingPeriod);
  if (!usage) {
    usage = { onTime: new Map(), late: [] };
    state.billableUsage.set(data.billingPeriod, usage);
  }
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
    available: parent.purchased - parent.allocated,
    used: parent.used,
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
