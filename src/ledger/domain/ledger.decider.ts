import {
  hasEnded,
  isBillingPeriod,
  nextPeriod,
  parentInvoiceId,
  periodOf,
  subAccountInvoiceId,
  type BillingPeriod,
} from '../../invoicing';
import { MAX_CREDITS_PER_OPERATION, MAX_TOTAL_CREDITS, requireCredits } from './credits';
import { DomainError } from './domain-error';
import type {
  AllocateQuota,
  CloseBillingPeriod,
  CloseSubAccount,
  CreateSubAccount,
  ExpireCredits,
  IssueApiKey,
  LedgerCommand,
  NewApiKey,
  OpenParentAccount,
  PurchaseCredits,
  RecordUsage,
  RenewRecurringAllocations,
  ReturnCredits,
  ReverseUsage,
  RevokeApiKey,
  SetQuota,
  SetRecurringAllocation,
  UpdateParentAccount,
  UpdateSubAccount,
} from './ledger.commands';
import type {
  ApiKeyIssued,
  ApiKeyRevoked,
  BalancesAfter,
  BillingModelChanged,
  BillingPeriodClosed,
  CreditPriceChanged,
  CreditsExpired,
  CreditsReturned,
  InvoiceCommit,
  InvoiceIssued,
  LedgerEvent,
  LotPortion,
  PoolBalances,
  QuotaAllocated,
  SubAccountBalances,
  SubAccountRenamed,
  UsageRecorded,
  UsageReversed,
} from './ledger.events';
import {
  DEFAULT_LOT_PRIORITY,
  MAX_LOT_PRIORITY,
  reversed,
  sumOf,
  takePortions,
  unusedIn,
  type LotState,
} from './ledger.lots';
import { termsFor } from './ledger.queries';
import {
  isUsageReversible,
  findReversibleUsage,
  liveAt,
  liveReceipt,
  poolBalances,
  reachesThreshold,
  requireParent,
  requireSubAccount,
  returnPortions,
  reversalPortions,
  termAt,
  usagePortions,
  type LedgerState,
  type ParentState,
  type SubAccountState,
  type UsageKeyLookup,
  type ReversibleUsageLookup,
} from './ledger.state';
import {
  requireAttributes,
  requireBillingModel,
  requireCurrency,
  requireId,
  requireInstant,
  requireLotKind,
  requireMeter,
  requireName,
  requirePrice,
  requireText,
  samePrice,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_REFERENCE_LENGTH,
  MAX_REGION_LENGTH,
} from './ledger.validation';
import {
  closePlanOf,
  commitDigestOf,
  invoiceChunksOf,
  invoiceRecordsOf,
  invoicesOfOpenPeriod,
  INVOICE_STREAM_CATEGORY,
  MAX_CLOSE_APPEND_BYTES,
  type ClosePlan,
} from './ledger.invoices';
import { usageFingerprint } from './usage-fingerprint';

/*
 * Every rule of SPEC §2 that concerns one parent is decided here, against the state of its
 * single `ledger-<parentId>` stream. decide is pure: it reads the state, never writes it, and
 * either returns all the events of a command or throws a DomainError having returned none
 * (rule 6).
 */

export const DEFAULT_METER = 'default';
/** Rule 9. */
export const MAX_USAGE_FUTURE_SKEW_MS = 5 * 60 * 1000;
export const MAX_USAGE_AGE_MS = 35 * 24 * 60 * 60 * 1000;

const MAX_KEY_PREFIX_LENGTH = 64;
const MAX_SECRET_HASH_LENGTH = 512;

export type UsageResult = {
  usageId: string;
  remaining: number;
  /** True when this was an idempotent repeat answered from the original record. */
  replayed: boolean;
};

export type UsageDecision = { events: LedgerEvent[]; result: UsageResult };

export function decide(command: LedgerCommand, state: LedgerState): LedgerEvent[] {
  return withAlerts(state, decideEvents(command, state));
}

function decideEvents(command: LedgerCommand, state: LedgerState): LedgerEvent[] {
  switch (command.type) {
    case 'OpenParentAccount':
      return openParentAccount(command, state);
    case 'PurchaseCredits':
      return purchaseCredits(command, state);
    case 'UpdateParentAccount':
      return updateParentAccount(command, state);
    case 'CreateSubAccount':
      return createSubAccount(command, state);
    case 'UpdateSubAccount':
      return updateSubAccount(command, state);
    case 'SetQuota':
      return setQuota(command, state);
    case 'AllocateQuota':
      return allocateQuota(command, state);
    case 'ReturnCredits':
      return returnCredits(command, state);
    case 'RecordUsage':
      return usageDecision(command, state).events;
    case 'CloseSubAccount':
      return closeSubAccount(command, state);
    case 'IssueApiKey':
      return issueApiKey(command, state);
    case 'RevokeApiKey':
      return revokeApiKey(command, state);
    case 'CloseBillingPeriod':
      return closeBillingPeriod(command, state);
    case 'ExpireCredits':
      return expireCredits(command, state);
    case 'RenewRecurringAllocations':
      return renewRecurringAllocations(command, state);
    case 'SetRecurringAllocation':
      return setRecurringAllocation(command, state);
    case 'ReverseUsage':
      return reversalDecision(command, state).events;
    default:
      throw new DomainError('validation_failed', `unknown command ${(command as { type: string }).type}`);
  }
}

export type ReversalResult = {
  reversalId: string;
  usageId: string;
  credits: number;
  /** The sub-account's remaining credits after it. */
  remaining: number;
  replayed: boolean;
};

/** The result a caller gets back besides the events: the answer of RecordUsage and ReverseUsage. */
export type LedgerResult = UsageResult | ReversalResult | null;

export type LedgerDecision = { events: LedgerEvent[]; result: LedgerResult };

/** decide with the command's answer, the shape the application's command processor expects. */
export function decideWithResult(
  command: LedgerCommand,
  state: LedgerState,
  lookup?: UsageKeyLookup,
  reversibleLookup?: ReversibleUsageLookup,
): LedgerDecision {
  if (command.type === 'RecordUsage') return decideUsage(command, state, lookup);
  if (command.type === 'ReverseUsage') return decideReversal(command, state, reversibleLookup);
  return { events: decide(command, state), result: null };
}

/**
 * Rule 5 needs an answer even when nothing is recorded, so usage has its own entry point that
 * returns the result beside the events. `lookup`: what the idempotency-key index holds for this
 * key, needed once the state has left the indexed receipts to it (`forgetIndexedUsageKeys`).
 */
export function decideUsage(
  command: RecordUsage,
  state: LedgerState,
  lookup?: UsageKeyLookup,
): UsageDecision {
  const decision = usageDecision(command, state, lookup);
  return { events: withAlerts(state, decision.events), result: decision.result };
}

function usageDecision(command: RecordUsage, state: LedgerState, lookup?: UsageKeyLookup): UsageDecision {
  const data = command.data;
  const now = command.metadata.now;
  const parent = requireParent(state);
  const usageId = requireId('usageId', data.usageId);
  const idempotencyKey = requireText('idempotencyKey', data.idempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH);
  const credits = requireCredits('credits', data.credits, { min: 0 });
  const meter = data.meter === undefined ? DEFAULT_METER : requireMeter(data.meter);
  const givenOccurredAt =
    data.occurredAt === undefined ? null : requireInstant('occurredAt', data.occurredAt);
  const attributes = data.attributes === undefined ? undefined : requireAttributes(data.attributes);
  const subAccount = requireSubAccount(state, data.subAccountId);
  const fingerprint = usageFingerprint({
    credits,
    meter,
    occurredAt: givenOccurredAt?.toISOString() ?? null,
    attributes: attributes ?? null,
  });

  // The key is looked up before the other rules: a repeat of a stored record must get its
  // original answer even if the sub-account has since been closed or occurredAt has aged out.
  const receipt = liveReceipt(state, subAccount, idempotencyKey, now.getTime(), lookup);
  if (receipt) {
    if (receipt.fingerprint !== fingerprint) {
      throw new DomainError(
        'idempotency_conflict',
        `idempotency key "${idempotencyKey}" was already used for a different usage (${receipt.usageId})`,
      );
    }
    return { events: [], result: { usageId: receipt.usageId, remaining: receipt.remaining, replayed: true } };
  }

  requireActive(subAccount);
  const occurredAt = givenOccurredAt ?? now;
  if (occurredAt.getTime() > now.getTime() + MAX_USAGE_FUTURE_SKEW_MS) {
    throw new DomainError('validation_failed', 'occurredAt is more than 5 minutes in the future');
  }
  if (occurredAt.getTime() < now.getTime() - MAX_USAGE_AGE_MS) {
    throw new DomainError('validation_failed', 'occurredAt is more than 35 days in the past');
  }
  // Otherwise it could be billed in a period before the parent existed, which can never close.
  if (occurredAt.getTime() < Date.parse(subAccount.createdAt)) {
    throw new DomainError(
      'validation_failed',
      `occurredAt is before sub-account ${subAccount.id} was created`,
    );
  }
  const remaining = subAccount.quota - subAccount.used;
  if (credits > remaining) {
    throw new DomainError(
      'insufficient_quota',
      `usage of ${credits} credits exceeds the ${remaining} remaining in sub-account ${subAccount.id}`,
    );
  }
  const portions = usagePortions(state, subAccount, credits, occurredAt.getTime());
  if (portions === null) {
    throw new DomainError(
      'insufficient_quota',
      `usage of ${credits} credits exceeds what sub-account ${subAccount.id} holds of lots that had not expired at ${occurredAt.toISOString()}`,
    );
  }

  const { billingPeriod, late } = billingPeriodFor(state, occurredAt, now);
  const event: UsageRecorded = {
    type: 'UsageRecorded',
    data: {
      subAccountId: subAccount.id,
      usageId,
      idempotencyKey,
      credits,
      meter,
      occurredAt: occurredAt.toISOString(),
      ...(attributes === undefined ? {} : { attributes }),
      billingPeriod,
      late,
      recordedAt: now.toISOString(),
      fingerprint,
      balancesAfter: {
        subAccount: {
          quota: subAccount.quota,
          used: subAccount.used + credits,
          remaining: remaining - credits,
        },
        pool: { ...poolBalances(parent), used: parent.used + credits },
      },
      portions,
    },
  };
  return { events: [event], result: { usageId, remaining: remaining - credits, replayed: false } };
}

/**
 * Rule 8: usage whose period is closed goes to the first open period from now on. Normally
 * that is now's period (a period cannot be closed before it ends); the loop only matters if
 * the clock was moved back.
 */
function billingPeriodFor(
  state: LedgerState,
  occurredAt: Date,
  now: Date,
): { billingPeriod: BillingPeriod; late: boolean } {
  const occurredPeriod = periodOf(occurredAt);
  if (!state.closedPeriods.has(occurredPeriod)) return { billingPeriod: occurredPeriod, late: false };
  let billingPeriod = periodOf(now);
  while (state.closedPeriods.has(billingPeriod)) billingPeriod = nextPeriod(billingPeriod);
  return { billingPeriod, late: true };
}

function openParentAccount(command: OpenParentAccount, state: LedgerState): LedgerEvent[] {
  const data = command.data;
  const now = command.metadata.now.toISOString();
  const parentId = requireId('parentId', data.parentId);
  const name = requireName('name', data.name);
  const currency = requireCurrency(data.currency);
  const creditPrice = requirePrice('creditPrice', data.creditPrice);
  const key = requireNewApiKey(data.parentKey);
  if (state.parent)
    throw new DomainError('already_exists', `parent account ${state.parent.id} already exists`);
  return [
    { type: 'ParentAccountOpened', data: { parentId, name, currency, creditPrice, openedAt: now } },
    { type: 'ApiKeyIssued', data: { ...key, subAccountId: null, issuedAt: now } },
  ];
}

function purchaseCredits(command: PurchaseCredits, state: LedgerState): LedgerEvent[] {
  const data = command.data;
  const credits = requireCredits('credits', data.credits, { min: 1 });
  const reference =
    data.reference === undefined ? null : requireText('reference', data.reference, MAX_REFERENCE_LENGTH);
  const kind = data.kind === undefined ? 'paid' : requireLotKind(data.kind);
  const priority =
    data.priority === undefined
      ? DEFAULT_LOT_PRIORITY
      : requireCredits('priority', data.priority, { min: 0, max: MAX_LOT_PRIORITY });
  const expiresAt = data.expiresAt === undefined ? null : requireInstant('expiresAt', data.expiresAt);
  if (expiresAt !== null && expiresAt.getTime() <= command.metadata.now.getTime()) {
    throw new DomainError('validation_failed', 'expiresAt must be in the future');
  }
  const parent = requireParent(state);
  // Lots bought before lots existed are `lot-r<revision>`, so the two never meet.
  const lotId = `lot-${state.lots.size + 1}`;
  if (parent.purchased + credits > MAX_TOTAL_CREDITS) {
    throw new DomainError(
      'limit_exceeded',
      `a parent's purchased credits may not exceed ${MAX_TOTAL_CREDITS} (2^53 − 1)`,
    );
  }
  return [
    {
      type: 'CreditsPurchased',
      data: {
        credits,
        reference,
        purchasedAt: command.metadata.now.toISOString(),
        balancesAfter: {
          pool: {
            ...poolBalances(parent),
            purchased: parent.purchased + credits,
            available: availableOf(parent) + credits,
          },
        },
        lotId,
        kind,
        expiresAt: expiresAt?.toISOString() ?? null,
        priority,
      },
      // Schema version 2: the lot fields (docs/events.md).
      metadata: { schemaVersion: 2 },
    } as LedgerEvent,
  ];
}

function updateParentAccount(command: UpdateParentAccount, state: LedgerState): LedgerEvent[] {
  const data = command.data;
  if (
    data.name === undefined &&
    data.creditPrice === undefined &&
    data.alertThresholds === undefined &&
    data.lowPoolThreshold === undefined
  ) {
    throw new DomainError(
      'validation_failed',
      'nothing to change: give name, creditPrice, alertThresholds or lowPoolThreshold',
    );
  }
  const name = data.name === undefined ? undefined : requireName('name', data.name);
  const creditPrice =
    data.creditPrice === undefined ? undefined : requirePrice('creditPrice', data.creditPrice);
  const alertThresholds =
    data.alertThresholds === undefined ? undefined : requireAlertThresholds(data.alertThresholds);
  const lowPoolThreshold =
    data.lowPoolThreshold === undefined || data.lowPoolThreshold === null
      ? data.lowPoolThreshold
      : requireCredits('lowPoolThreshold', data.lowPoolThreshold, { min: 1 });
  const parent = requireParent(state);
  const events: LedgerEvent[] = [];
  if (name !== undefined && name !== parent.name)
    events.push({ type: 'ParentAccountRenamed', data: { name } });
  const effectiveFrom = nextPeriodAfter(command.metadata.now);
  if (creditPrice !== undefined && !samePrice(termAt(parent.creditPrices, effectiveFrom), creditPrice)) {
    events.push({
      type: 'CreditPriceChanged',
      data: {
        scope: 'parent',
        subAccountId: null,
        creditPrice,
        effectiveFrom,
        changedAt: command.metadata.now.toISOString(),
      },
    });
  }
  const thresholds = alertThresholds ?? parent.alertThresholds;
  const floor = lowPoolThreshold === undefined ? parent.lowPoolThreshold : lowPoolThreshold;
  if (
    floor !== parent.lowPoolThreshold ||
    thresholds.length !== parent.alertThresholds.length ||
    thresholds.some((threshold, i) => threshold !== parent.alertThresholds[i])
  ) {
    events.push({
      type: 'AlertThresholdsChanged',
      data: {
        alertThresholds: [...thresholds],
        lowPoolThreshold: floor,
        changedAt: command.metadata.now.toISOString(),
      },
    });
  }
  return events;
}

export const MAX_ALERT_THRESHOLDS = 10;

/** Percent of quota, each an integer from 1 to 100, no repeats; kept ascending. An empty list: no alerts. */
function requireAlertThresholds(value: unknown): number[] {
  if (!Array.isArray(value) || value.length > MAX_ALERT_THRESHOLDS) {
    throw new DomainError(
      'validation_failed',
      `alertThresholds must be a list of at most ${MAX_ALERT_THRESHOLDS} percentages`,
    );
  }
  const thresholds = value.map((threshold) =>
    requireCredits('alertThresholds[]', threshold, { min: 1, max: 100 }),
  );
  if (new Set(thresholds).size !== thresholds.length) {
    throw new DomainError('validation_failed', 'alertThresholds must not repeat a percentage');
  }
  return thresholds.sort((a, b) => a - b);
}

/**
 * SPEC §11's alerts, decided with the events that cross them, so they can be neither missed nor
 * doubled: a QuotaThresholdReached for each of the parent's thresholds a usage record takes its
 * sub-account to (once per crossing: until re-armed, `alerted`), and a PoolBalanceLow when an event
 * takes the pool below the parent's floor. Appended after the events that crossed them, in the same
 * append. Only usage crosses a quota threshold (SPEC: "when a sub-account's usage crosses"); a quota
 * lowered onto its usage alerts at its next usage.
 */
function withAlerts(state: LedgerState, events: LedgerEvent[]): LedgerEvent[] {
  const parent = state.parent;
  if (!parent || events.length === 0) return events;
  const usage = new Map<string, SubAccountBalances>();
  let pool: PoolBalances | undefined;
  for (const event of events) {
    const after = (event.data as { balancesAfter?: { pool?: PoolBalances } }).balancesAfter;
    if (after?.pool) pool = after.pool;
    if (event.type === 'UsageRecorded')
      usage.set(event.data.subAccountId, event.data.balancesAfter.subAccount);
  }
  const alerts: LedgerEvent[] = [];
  for (const [subAccountId, { quota, used }] of usage) {
    const alerted = state.subAccounts.get(subAccountId)?.alerted;
    for (const threshold of parent.alertThresholds) {
      if (!reachesThreshold(quota, used, threshold) || alerted?.has(threshold)) continue;
      alerts.push({ type: 'QuotaThresholdReached', data: { subAccountId, threshold, quota, used } });
    }
  }
  const floor = parent.lowPoolThreshold;
  if (pool && floor !== null && !parent.poolLow && pool.available < floor) {
    alerts.push({ type: 'PoolBalanceLow', data: { available: pool.available, threshold: floor } });
  }
  return alerts.length === 0 ? events : [...events, ...alerts];
}

/**
 * The checks of a new sub-account's own fields, which need no state: the decision makes them first,
 * and the batch route makes them on every item before deciding any, so bad input refuses the whole
 * request as it refuses a single one.
 */
export function requireSubAccountFields(data: CreateSubAccount['data']) {
  return {
    subAccountId: requireId('id', data.subAccountId),
    name: requireName('name', data.name),
    region: data.region === undefined ? null : requireText('region', data.region, MAX_REGION_LENGTH),
    billingModel: requireBillingModel(data.billingModel),
    quota: data.quota === undefined ? 0 : requireCredits('quota', data.quota, { min: 0 }),
    creditPrice: data.creditPrice === undefined ? null : requirePrice('creditPrice', data.creditPrice),
  };
}

function createSubAccount(command: CreateSubAccount, state: LedgerState): LedgerEvent[] {
  const { subAccountId, name, region, billingModel, quota, creditPrice } = requireSubAccountFields(
    command.data,
  );
  const parent = requireParent(state);
  if (state.subAccounts.has(subAccountId)) {
    throw new DomainError('already_exists', `sub-account ${subAccountId} already exists`);
  }
  const portions = quota > 0 ? requireAllocatable(state, quota, command.metadata.now) : [];
  const events: LedgerEvent[] = [
    {
      type: 'SubAccountCreated',
      data: {
        subAccountId,
        name,
        region,
        billingModel,
        creditPrice,
        createdAt: command.metadata.now.toISOString(),
      },
    },
  ];
  if (quota > 0) {
    events.push(
      quotaAllocated(
        subAccountId,
        quota,
        'initial-quota',
        { subAccount: { quota, used: 0, remaining: quota }, pool: allocate(parent, quota) },
        portions,
      ),
    );
  }
  return events;
}

function updateSubAccount(command: UpdateSubAccount, state: LedgerState): LedgerEvent[] {
  const data = command.data;
  if (data.name === undefined && data.billingModel === undefined && data.creditPrice === undefined) {
    throw new DomainError('validation_failed', 'nothing to change: give name, billingModel or creditPrice');
  }
  const name = data.name === undefined ? undefined : requireName('name', data.name);
  const billingModel = data.billingModel === undefined ? undefined : requireBillingModel(data.billingModel);
  const creditPrice =
    data.creditPrice === undefined || data.creditPrice === null
      ? data.creditPrice
      : requirePrice('creditPrice', data.creditPrice);
  requireParent(state);
  const subAccount = requireActive(requireSubAccount(state, data.subAccountId));
  const subAccountId = subAccount.id;
  const changedAt = command.metadata.now.toISOString();
  const effectiveFrom = nextPeriodAfter(command.metadata.now);
  const events: LedgerEvent[] = [];
  if (name !== undefined && name !== subAccount.name) {
    events.push({ type: 'SubAccountRenamed', data: { subAccountId, name } } satisfies SubAccountRenamed);
  }
  if (billingModel !== undefined && termAt(subAccount.billingModels, effectiveFrom) !== billingModel) {
    events.push({
      type: 'BillingModelChanged',
      data: { subAccountId, billingModel, effectiveFrom, changedAt },
    } satisfies BillingModelChanged);
  }
  if (creditPrice !== undefined && !samePrice(termAt(subAccount.creditPrices, effectiveFrom), creditPrice)) {
    events.push({
      type: 'CreditPriceChanged',
      data: { scope: 'sub-account', subAccountId, creditPrice, effectiveFrom, changedAt },
    } satisfies CreditPriceChanged);
  }
  return events;
}

/**
 * PUT …/quota. Rule 4 bounds an operation at 10^12 credits, and a quota set is held to it twice: the
 * `quota` it carries is a credit figure of a request like any other (≤ 10^12), and the operation is
 * the difference it allocates or returns, which must be ≤ 10^12 as well. The second only bites when
 * the current quota is above 10^12 (reached by several allocations): lower it in steps or by returns.
 */
function setQuota(command: SetQuota, state: LedgerState): LedgerEvent[] {
  const quota = requireCredits('quota', command.data.quota, { min: 0 });
  const parent = requireParent(state);
  const subAccount = requireActive(requireSubAccount(state, command.data.subAccountId));
  if (Math.abs(quota - subAccount.quota) > MAX_CREDITS_PER_OPERATION) {
    throw new DomainError(
      'validation_failed',
      `setting the quota to ${quota} would move ${Math.abs(quota - subAccount.quota)} credits; one operation moves at most ${MAX_CREDITS_PER_OPERATION} (rule 4)`,
    );
  }
  if (quota > subAccount.quota) {
    const credits = quota - subAccount.quota;
    const portions = requireAllocatable(state, credits, command.metadata.now);
    return [
      quotaAllocated(
        subAccount.id,
        credits,
        'quota-raised',
        afterAllocation(subAccount, parent, credits),
        portions,
      ),
    ];
  }
  if (quota < subAccount.quota) {
    if (quota < subAccount.used) {
      throw new DomainError(
        'quota_below_used',
        `quota ${quota} is below the ${subAccount.used} credits sub-account ${subAccount.id} has used`,
      );
    }
    const credits = subAccount.quota - quota;
    return [creditsReturned(state, subAccount, parent, credits, 'quota-lowered')];
  }
  return [];
}

function allocateQuota(command: AllocateQuota, state: LedgerState): LedgerEvent[] {
  const credits = requireCredits('credits', command.data.credits, { min: 1 });
  const parent = requireParent(state);
  const subAccount = requireActive(requireSubAccount(state, command.data.subAccountId));
  const portions = requireAllocatable(state, credits, command.metadata.now);
  return [
    quotaAllocated(
      subAccount.id,
      credits,
      'allocation',
      afterAllocation(subAccount, parent, credits),
      portions,
    ),
  ];
}

function returnCredits(command: ReturnCredits, state: LedgerState): LedgerEvent[] {
  const given = command.data.credits;
  const requested = given === undefined ? undefined : requireCredits('credits', given, { min: 1 });
  const parent = requireParent(state);
  const subAccount = requireActive(requireSubAccount(state, command.data.subAccountId));
  const unused = subAccount.quota - subAccount.used;
  const credits = requested ?? unused;
  if (credits > unused) {
    throw new DomainError(
      'quota_below_used',
      `cannot return ${credits} credits: sub-account ${subAccount.id} has only ${unused} unused`,
    );
  }
  // "Return everything unused" with nothing unused moves nothing, so records nothing.
  if (credits === 0) return [];
  return [creditsReturned(state, subAccount, parent, credits, 'return')];
}

/**
 * Rule 10: the closing returns every unused credit and revokes every key, all in one append. Closing a
 * closed sub-account is a repeat: it records nothing and the caller gets the same answer, as a
 * repeated period close or key revocation does.
 */
function closeSubAccount(command: CloseSubAccount, state: LedgerState): LedgerEvent[] {
  const parent = requireParent(state);
  const subAccount = requireSubAccount(state, command.data.subAccountId);
  if (subAccount.status === 'closed') return [];
  const now = command.metadata.now.toISOString();
  const returnedCredits = subAccount.quota - subAccount.used;
  const events: LedgerEvent[] = [
    {
      type: 'SubAccountClosed',
      data: {
        subAccountId: subAccount.id,
        closedAt: now,
        returnedCredits,
        balancesAfter: {
          subAccount: { quota: subAccount.used, used: subAccount.used, remaining: 0 },
          pool: allocate(parent, -returnedCredits),
        },
        portions: returnPortions(state, subAccount, returnedCredits),
      },
    },
  ];
  for (const keyId of subAccount.keyIds) {
    if (state.apiKeys.get(keyId)?.status !== 'active') continue;
    events.push({
      type: 'ApiKeyRevoked',
      data: { keyId, subAccountId: subAccount.id, reason: 'sub-account-closed', revokedAt: now },
    } satisfies ApiKeyRevoked);
  }
  return events;
}

function issueApiKey(command: IssueApiKey, state: LedgerState): LedgerEvent[] {
  const key = requireNewApiKey(command.data);
  const subAccountId = command.data.subAccountId;
  requireParent(state);
  if (subAccountId !== null) requireActive(requireSubAccount(state, subAccountId));
  if (state.apiKeys.has(key.keyId))
    throw new DomainError('already_exists', `API key ${key.keyId} already exists`);
  return [
    {
      type: 'ApiKeyIssued',
      data: { ...key, subAccountId, issuedAt: command.metadata.now.toISOString() },
    } satisfies ApiKeyIssued,
  ];
}

/**
 * Revoking a revoked key changes nothing and records nothing (DELETE is idempotent). A parent keeps at
 * least one active parent key: revoking the last one is refused (`last_parent_key`), since nobody
 * could then manage its sub-accounts until the operator stepped in. Rotation is issue, switch, revoke.
 */
function revokeApiKey(command: RevokeApiKey, state: LedgerState): LedgerEvent[] {
  requireParent(state);
  const key = state.apiKeys.get(command.data.keyId);
  if (!key || key.subAccountId !== command.data.subAccountId) {
    throw new DomainError('not_found', `API key ${String(command.data.keyId)} not found`);
  }
  if (key.status === 'revoked') return [];
  if (key.subAccountId === null && activeParentKeyCount(state) <= 1) {
    throw new DomainError(
      'last_parent_key',
      `API key ${key.keyId} is the parent's last active key: issue another one first, then revoke this one`,
    );
  }
  return [
    {
      type: 'ApiKeyRevoked',
      data: {
        keyId: key.keyId,
        subAccountId: key.subAccountId,
        reason: 'revoked',
        revokedAt: command.metadata.now.toISOString(),
      },
    },
  ];
}

/** O(keys), and only when a parent key is revoked. */
function activeParentKeyCount(state: LedgerState): number {
  let count = 0;
  for (const key of state.apiKeys.values()) {
    if (key.subAccountId === null && key.status === 'active') count++;
  }
  return count;
}

/**
 * Only an ended period can be closed. Closing it again is refused with period_already_closed,
 * which the HTTP layer answers with the invoices already issued ("repeating it changes
 * nothing"). The decision issues every invoice of the period (docs/billing.md).
 *
 * When the invoices fit one append, the closing carries them inline, as it always has. When they
 * do not, the command must name where they were written (`invoices`, the application writes them
 * first to `ledgerinvoices-<parentId>`): the closing is issued only if those chunks hold exactly what
 * this decision would issue (same digests), and then commits them; otherwise it is refused
 * (`invoices_exceed_one_append`, `invoices_changed`) and the application writes them again.
 */
function closeBillingPeriod(command: CloseBillingPeriod, state: LedgerState): LedgerEvent[] {
  const period = command.data.period;
  const closedAt = command.metadata.now;
  const plan = planBillingPeriodClose(state, period, closedAt);
  const closed: BillingPeriodClosed = {
    type: 'BillingPeriodClosed',
    data: { period, closedAt: closedAt.toISOString() },
  };
  const written = command.data.invoices;
  if (written === undefined) {
    if (!plan.fitsOneAppend) {
      throw new DomainError(
        'invoices_exceed_one_append',
        `the ${plan.invoices.length} invoices of ${period} take ${plan.inlineBytes} bytes, more than one append ` +
          `may carry (${MAX_CLOSE_APPEND_BYTES}): they are written to ${INVOICE_STREAM_CATEGORY}-<parentId> first`,
      );
    }
    // Closing and issuing are one decision and one append: a crash leaves all of it or none, and
    // usage decided after it sees the period closed and is billed late (rule 8).
    return [
      closed,
      ...plan.invoices.map((invoice): InvoiceIssued => ({ type: 'InvoiceIssued', data: invoice })),
    ];
  }
  const chunks = invoiceChunksOf(invoiceRecordsOf(plan.invoices));
  const expected = chunks.map((chunk) => chunk.digest);
  const given = Array.isArray(written.chunks) ? written.chunks.map((chunk) => chunk.digest) : [];
  if (expected.length !== given.length || expected.some((digest, i) => digest !== given[i])) {
    throw new DomainError(
      'invoices_changed',
      `the invoices written for ${period} are not the ones it would issue now: write them again`,
    );
  }
  // The chunks must sit back to back, each spanning exactly its events, from first to last.
  let next = written.firstRevision;
  for (const [i, chunk] of written.chunks.entries()) {
    if (
      chunk.firstRevision !== next ||
      chunk.lastRevision - chunk.firstRevision + 1 !== chunks[i].records.length
    ) {
      throw new DomainError(
        'invoices_changed',
        `the invoices written for ${period} span the wrong revisions`,
      );
    }
    next = chunk.lastRevision + 1;
  }
  const events = chunks.reduce((sum, chunk) => sum + chunk.records.length, 0);
  if (written.lastRevision !== next - 1) {
    throw new DomainError('invoices_changed', `the invoices written for ${period} span the wrong revisions`);
  }
  const invoices: InvoiceCommit = {
    stream: written.stream,
    firstRevision: written.firstRevision,
    lastRevision: written.lastRevision,
    count: plan.invoices.length,
    events,
    digest: commitDigestOf(expected),
    chunks: written.chunks.map((chunk, i) => ({
      firstRevision: chunk.firstRevision,
      lastRevision: chunk.lastRevision,
      firstInvoiceId: chunks[i].firstInvoiceId,
      lastInvoiceId: chunks[i].lastInvoiceId,
      digest: chunks[i].digest,
    })),
  };
  // The event's own metadata wins over the command's envelope: this shape is schema version 2.
  const committed = { ...closed, data: { ...closed.data, invoices }, metadata: { schemaVersion: 2 } };
  return [committed];
}

/**
 * What closing `period` at `closedAt` would issue, refused as the close itself would be: the one
 * computation behind the decision and behind the application writing a big close's invoices first.
 */
export function planBillingPeriodClose(state: LedgerState, period: unknown, closedAt: Date): ClosePlan {
  if (!isBillingPeriod(period)) throw new DomainError('validation_failed', 'period must be YYYY-MM');
  const parent = requireParent(state);
  if (period < periodOf(new Date(parent.openedAt))) {
    throw new DomainError('validation_failed', `period ${period} ended before the parent account was opened`);
  }
  if (!hasEnded(period, closedAt)) {
    throw new DomainError('period_not_ended', `period ${period} has not ended yet`);
  }
  if (state.closedPeriods.has(period)) {
    throw new DomainError('period_already_closed', `period ${period} is already closed`);
  }
  return closePlanOf(invoicesOfOpenPeriod(state, period, closedAt));
}

/** Rule 7: terms change from the period after the one the clock is in. */
function nextPeriodAfter(now: Date): BillingPeriod {
  return nextPeriod(periodOf(now));
}

function requireActive(subAccount: SubAccountState): SubAccountState {
  if (subAccount.status === 'closed') {
    throw new DomainError('sub_account_closed', `sub-account ${subAccount.id} is closed`);
  }
  return subAccount;
}

/**
 * Rule 1, with lots: the pool's portions an allocation takes, in burn order, of lots not past their
 * expiresAt at `now`; refused when they hold too few.
 */
function requireAllocatable(state: LedgerState, credits: number, now: Date): LotPortion[] {
  const portions = takePortions(state.lotOrder, credits, (lot) => lot.pool, liveAt(now.getTime()));
  if (portions === null) {
    const available = sumOf(state.lotOrder, (lot) => lot.pool, liveAt(now.getTime()));
    throw new DomainError(
      'insufficient_pool',
      `allocating ${credits} credits exceeds the ${available} available in the pool`,
    );
  }
  return portions;
}

function requireNewApiKey(key: NewApiKey): NewApiKey {
  if (typeof key !== 'object' || key === null)
    throw new DomainError('validation_failed', 'an API key is required');
  return {
    keyId: requireId('keyId', key.keyId),
    prefix: requireText('prefix', key.prefix, MAX_KEY_PREFIX_LENGTH),
    secretHash: requireText('secretHash', key.secretHash, MAX_SECRET_HASH_LENGTH),
  };
}

function availableOf(parent: ParentState): number {
  return parent.purchased - parent.allocated - parent.expired;
}

/** The pool after moving `credits` from it into quotas (negative: back from quotas). */
function allocate(parent: ParentState, credits: number): PoolBalances {
  return {
    purchased: parent.purchased,
    allocated: parent.allocated + credits,
    available: availableOf(parent) - credits,
    used: parent.used,
    expired: parent.expired,
  };
}

function afterAllocation(subAccount: SubAccountState, parent: ParentState, credits: number): BalancesAfter {
  const quota = subAccount.quota + credits;
  return {
    subAccount: { quota, used: subAccount.used, remaining: quota - subAccount.used },
    pool: allocate(parent, credits),
  };
}

function quotaAllocated(
  subAccountId: string,
  credits: number,
  reason: QuotaAllocated['data']['reason'],
  balancesAfter: BalancesAfter,
  portions: LotPortion[],
): QuotaAllocated {
  return { type: 'QuotaAllocated', data: { subAccountId, credits, reason, balancesAfter, portions } };
}

function creditsReturned(
  state: LedgerState,
  subAccount: SubAccountState,
  parent: ParentState,
  credits: number,
  reason: 'return' | 'quota-lowered',
): LedgerEvent {
  const quota = subAccount.quota - credits;
  return {
    type: 'CreditsReturned',
    data: {
      subAccountId: subAccount.id,
      credits,
      reason,
      balancesAfter: {
        subAccount: { quota, used: subAccount.used, remaining: quota - subAccount.used },
        pool: allocate(parent, -credits),
      },
      portions: returnPortions(state, subAccount, credits),
    },
  };
}

/*
 * SPEC §10: expiry, recurring allocations and reversals. The timer's two commands (ExpireCredits,
 * RenewRecurringAllocations) decide nothing when nothing is due, so the service can send them as often
 * as it likes from as many instances as it likes: a second run finds the work recorded and records
 * nothing (docs/events.md, "Credit lots").
 */

/**
 * Everything left of each lot whose expiresAt + grace has passed: its pool part and every quota's
 * unused part of it, one CreditsExpired per lot in burn order, the balances running from one to the
 * next. A lot lapses once with a CreditsExpired even when nothing was left of it (so the schedule knows
 * it is done), and again only if a reversal gave it credits back after that. Used credits never expire; issued and draft invoices bill usage only, so an expiry never
 * changes what a close issues (docs/events.md, "Expiry, late usage and the close").
 */
function expireCredits(command: ExpireCredits, state: LedgerState): LedgerEvent[] {
  const graceMs = requireCredits('graceMs', command.data.graceMs, { min: 0, max: Number.MAX_SAFE_INTEGER });
  const parent = requireParent(state);
  const nowMs = command.metadata.now.getTime();
  const due = state.lotOrder.filter(
    (lot) => lot.expiresAtMs + graceMs <= nowMs && (!lot.lapsed || lot.pool + lot.inQuotas > 0),
  );
  if (due.length === 0) return [];
  const holders = [...state.subAccounts.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const quotas = new Map<string, SubAccountBalances>();
  const pool = poolBalances(parent);
  const expired = pool.expired ?? 0;
  let allocated = pool.allocated;
  let totalExpired = expired;
  return due.map((lot): CreditsExpired => {
    const fromSubAccounts: CreditsExpired['data']['fromSubAccounts'] = [];
    if (lot.inQuotas > 0) {
      for (const subAccount of holders) {
        const credits = unusedIn(subAccount.lots, lot);
        if (credits === 0) continue;
        const before = quotas.get(subAccount.id) ?? {
          quota: subAccount.quota,
          used: subAccount.used,
          remaining: subAccount.quota - subAccount.used,
        };
        const after = {
          quota: before.quota - credits,
          used: before.used,
          remaining: before.remaining - credits,
        };
        quotas.set(subAccount.id, after);
        fromSubAccounts.push({ subAccountId: subAccount.id, credits, balancesAfter: after });
      }
    }
    const fromQuotas = fromSubAccounts.reduce((sum, from) => sum + from.credits, 0);
    allocated -= fromQuotas;
    totalExpired += lot.pool + fromQuotas;
    return {
      type: 'CreditsExpired',
      data: {
        lotId: lot.lotId,
        expiresAt: lot.expiresAt as string,
        expiredAt: command.metadata.now.toISOString(),
        credits: lot.pool + fromQuotas,
        fromPool: lot.pool,
        fromSubAccounts,
        balancesAfter: {
          pool: {
            purchased: pool.purchased,
            allocated,
            available: pool.purchased - allocated - totalExpired,
            used: pool.used,
            expired: totalExpired,
          },
        },
      },
    };
  });
}

/**
 * The credits each lot holds as this decision goes: the pool's, and one sub-account's unused ones,
 * starting from the state and moved by the events decided so far (the state is never written).
 */
class LotLedger {
  private readonly pool = new Map<string, number>();
  private readonly unused = new Map<string, number>();

  constructor(private readonly state: LedgerState) {}

  poolOf(lot: LotState): number {
    return this.pool.get(lot.lotId) ?? lot.pool;
  }

  unusedOf(subAccount: SubAccountState, lot: LotState): number {
    return this.unused.get(`${subAccount.id}\u0000${lot.lotId}`) ?? unusedIn(subAccount.lots, lot);
  }

  /** Moves `portions` from the pool into `subAccount`'s quota (negative: back). */
  move(subAccount: SubAccountState, portions: readonly LotPortion[], sign: 1 | -1): void {
    for (const { lotId, credits } of portions) {
      const lot = this.state.lots.get(lotId) as LotState;
      this.pool.set(lotId, this.poolOf(lot) - sign * credits);
      this.unused.set(`${subAccount.id}\u0000${lotId}`, this.unusedOf(subAccount, lot) + sign * credits);
    }
  }
}

type RecurringBalances = { parent: PoolBalances; quota: number };

/**
 * One sub-account's recurring allocation of `period`: the unused part of the last one goes back (the
 * portions that would burn last), then `credits` are allocated from the pool's live lots. Null when the
 * pool, with what went back, cannot cover it: the caller records RecurringAllocationFailed, or refuses.
 */
function recurringEvents(
  state: LedgerState,
  lots: LotLedger,
  balances: RecurringBalances,
  subAccount: SubAccountState,
  credits: number,
  period: BillingPeriod,
  now: Date,
): { events: LedgerEvent[]; available: number } {
  const nowMs = now.getTime();
  const remaining = balances.quota - subAccount.used;
  const reset = Math.min(subAccount.recurring.lastCredits, remaining);
  const returned =
    takePortions(reversed(state.lotOrder), reset, (lot) => lots.unusedOf(subAccount, lot)) ?? [];
  lots.move(subAccount, returned, -1);
  const portions = takePortions(state.lotOrder, credits, (lot) => lots.poolOf(lot), liveAt(nowMs));
  if (portions === null) {
    lots.move(subAccount, returned, 1);
    return { events: [], available: sumOf(state.lotOrder, (lot) => lots.poolOf(lot), liveAt(nowMs)) };
  }
  lots.move(subAccount, portions, 1);
  const events: LedgerEvent[] = [];
  const pool = (allocatedDelta: number): PoolBalances => {
    const allocated = balances.parent.allocated + allocatedDelta;
    const expired = balances.parent.expired ?? 0;
    return {
      ...balances.parent,
      allocated,
      available: balances.parent.purchased - allocated - expired,
    };
  };
  if (reset > 0) {
    const quota = balances.quota - reset;
    balances.parent = pool(-reset);
    balances.quota = quota;
    events.push({
      type: 'CreditsReturned',
      data: {
        subAccountId: subAccount.id,
        credits: reset,
        reason: 'period-reset',
        balancesAfter: {
          subAccount: { quota, used: subAccount.used, remaining: quota - subAccount.used },
          pool: balances.parent,
        },
        portions: returned,
      },
    } satisfies CreditsReturned);
  }
  const quota = balances.quota + credits;
  balances.parent = pool(credits);
  balances.quota = quota;
  events.push({
    type: 'QuotaAllocated',
    data: {
      subAccountId: subAccount.id,
      credits,
      reason: 'recurring',
      balancesAfter: {
        subAccount: { quota, used: subAccount.used, remaining: quota - subAccount.used },
        pool: balances.parent,
      },
      portions,
      period,
    },
  } satisfies QuotaAllocated);
  return { events, available: 0 };
}

/**
 * At each period start, every active sub-account with a recurring allocation not yet made (or failed)
 * for the current period gets it, in sub-account id order. A restart after several periods makes the
 * current period's only: the missed ones are past.
 */
function renewRecurringAllocations(command: RenewRecurringAllocations, state: LedgerState): LedgerEvent[] {
  const parent = requireParent(state);
  const now = command.metadata.now;
  const period = periodOf(now);
  const due = [...state.subAccounts.values()]
    .filter(
      (subAccount) =>
        subAccount.status === 'active' &&
        subAccount.recurring.credits !== null &&
        (subAccount.recurring.lastPeriod === null || subAccount.recurring.lastPeriod < period),
    )
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (due.length === 0) return [];
  const lots = new LotLedger(state);
  const events: LedgerEvent[] = [];
  let pool = poolBalances(parent);
  for (const subAccount of due) {
    const credits = subAccount.recurring.credits as number;
    const balances: RecurringBalances = { parent: pool, quota: subAccount.quota };
    const renewed = recurringEvents(state, lots, balances, subAccount, credits, period, now);
    if (renewed.events.length === 0) {
      events.push({
        type: 'RecurringAllocationFailed',
        data: {
          subAccountId: subAccount.id,
          period,
          credits,
          available: renewed.available,
          failedAt: now.toISOString(),
        },
      });
      continue;
    }
    pool = balances.parent;
    events.push(...renewed.events);
  }
  return events;
}

/**
 * PUT …/recurring-allocation. Setting it makes the current period's allocation at once when none was
 * made for it yet (refused, nothing recorded, when the pool cannot cover it); otherwise the new amount
 * applies from the next period start. null stops it: the quota keeps what it has.
 */
function setRecurringAllocation(command: SetRecurringAllocation, state: LedgerState): LedgerEvent[] {
  const given = command.data.credits;
  const credits = given === null ? null : requireCredits('credits', given, { min: 1 });
  const parent = requireParent(state);
  const subAccount = requireActive(requireSubAccount(state, command.data.subAccountId));
  const now = command.metadata.now;
  const events: LedgerEvent[] = [];
  if (credits !== subAccount.recurring.credits) {
    events.push({
      type: 'RecurringAllocationSet',
      data: { subAccountId: subAccount.id, credits, setAt: now.toISOString() },
    });
  }
  const period = periodOf(now);
  if (credits === null || subAccount.recurring.lastPeriod === period) return events;
  const balances: RecurringBalances = { parent: poolBalances(parent), quota: subAccount.quota };
  const renewed = recurringEvents(state, new LotLedger(state), balances, subAccount, credits, period, now);
  if (renewed.events.length === 0) {
    throw new DomainError(
      'insufficient_pool',
      `a recurring allocation of ${credits} credits exceeds the ${renewed.available} available in the pool`,
    );
  }
  return [...events, ...renewed.events];
}

/** What a repeated reversal must match: the credits asked for (null: all left) and the reason. */
function reversalFingerprint(credits: number | null, reason: string): string {
  return JSON.stringify([credits, reason]);
}

/**
 * A correction of one usage record: its credits (all not yet reversed when none are given) go back to
 * the quota. While the usage's billing period is open the draft loses them; once it is closed, its
 * invoice stays as issued and the credit goes on the sub-account's invoice of the first open period,
 * at the price the usage was billed at, naming the invoice that billed it. A reversal has its own
 * idempotency key per usage: a repeat answers the original, a different payload is a conflict.
 * `lookup`: what the reversible-usage index holds for this usage and key, needed once the state has
 * left the indexed usage to it (`forgetIndexedReversibleUsage`).
 */
export function decideReversal(
  command: ReverseUsage,
  state: LedgerState,
  lookup?: ReversibleUsageLookup,
): { events: LedgerEvent[]; result: ReversalResult } {
  const decision = reversalDecision(command, state, lookup);
  return { events: withAlerts(state, decision.events), result: decision.result };
}

function reversalDecision(
  command: ReverseUsage,
  state: LedgerState,
  lookup?: ReversibleUsageLookup,
): { events: LedgerEvent[]; result: ReversalResult } {
  const data = command.data;
  const now = command.metadata.now;
  const parent = requireParent(state);
  const reversalId = requireId('reversalId', data.reversalId);
  const idempotencyKey = requireText('idempotencyKey', data.idempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH);
  const reason = requireText('reason', data.reason, MAX_REFERENCE_LENGTH);
  const given = data.credits === undefined ? null : requireCredits('credits', data.credits, { min: 1 });
  const subAccount = requireSubAccount(state, data.subAccountId);
  const found =
    typeof data.usageId === 'string' ? findReversibleUsage(state, data.usageId, lookup) : undefined;
  const usage = found?.usage;
  const latestMs = Math.max(now.getTime(), state.usageKeys.latestRecordedAtMs);
  if (!found || !usage || usage.subAccountId !== subAccount.id || !isUsageReversible(usage, latestMs)) {
    throw new DomainError(
      'not_found',
      `usage ${String(data.usageId)} of sub-account ${subAccount.id} not found (usage can be reversed for 35 days)`,
    );
  }
  const fingerprint = reversalFingerprint(given, reason);
  const earlier = found.reversal(idempotencyKey);
  if (earlier) {
    if (earlier.fingerprint !== fingerprint) {
      throw new DomainError(
        'idempotency_conflict',
        `idempotency key "${idempotencyKey}" was already used for a different reversal (${earlier.reversalId})`,
      );
    }
    return {
      events: [],
      result: {
        reversalId: earlier.reversalId,
        usageId: usage.usageId,
        credits: earlier.credits,
        remaining: subAccount.quota - subAccount.used,
        replayed: true,
      },
    };
  }
  requireActive(subAccount);
  const left = usage.credits - found.reversed;
  const credits = given ?? left;
  if (credits > left || credits === 0) {
    throw new DomainError(
      'reversal_exceeds_usage',
      `usage ${usage.usageId} has ${left} of its ${usage.credits} credits left to reverse; ${credits} asked`,
    );
  }
  let creditLine: UsageReversed['data']['creditLine'] = null;
  if (state.closedPeriods.has(usage.billingPeriod)) {
    // Late usage was billed on its billing period's invoice at the terms of the period it occurred in.
    const termsPeriod = usage.late ? periodOf(new Date(usage.occurredAt)) : usage.billingPeriod;
    const terms = termsFor(state, subAccount.id, termsPeriod);
    let period = periodOf(now);
    while (state.closedPeriods.has(period)) period = nextPeriod(period);
    creditLine = {
      period,
      originalInvoiceId:
        terms.billingModel === 'bill-to-parent'
          ? parentInvoiceId(parent.id, usage.billingPeriod)
          : subAccountInvoiceId(parent.id, usage.billingPeriod, subAccount.id),
      unitPrice: terms.creditPrice,
    };
  }
  const used = subAccount.used - credits;
  const event: UsageReversed = {
    type: 'UsageReversed',
    data: {
      subAccountId: subAccount.id,
      usageId: usage.usageId,
      reversalId,
      idempotencyKey,
      credits,
      reason,
      originalPeriod: usage.billingPeriod,
      meter: usage.meter,
      occurredAt: usage.occurredAt,
      creditLine,
      reversedAt: now.toISOString(),
      fingerprint,
      portions: reversalPortions(state, subAccount, credits),
      balancesAfter: {
        subAccount: { quota: subAccount.quota, used, remaining: subAccount.quota - used },
        pool: { ...poolBalances(parent), used: parent.used - credits },
      },
    },
  };
  // The usage it reverses, named as its cause (SPEC §10): the usageId names exactly one UsageRecorded.
  const linked = { ...event, metadata: { $causationId: usage.usageId } } as LedgerEvent;
  return {
    events: [linked],
    result: {
      reversalId,
      usageId: usage.usageId,
      credits,
      remaining: subAccount.quota - used,
      replayed: false,
    },
  };
}
