import { hasEnded, isBillingPeriod, nextPeriod, periodOf, type BillingPeriod } from '../../invoicing';
import { MAX_CREDITS_PER_OPERATION, MAX_TOTAL_CREDITS, requireCredits } from './credits';
import { DomainError } from './domain-error';
import type {
  AllocateQuota,
  CloseBillingPeriod,
  CloseSubAccount,
  CreateSubAccount,
  IssueApiKey,
  LedgerCommand,
  NewApiKey,
  OpenParentAccount,
  PurchaseCredits,
  RecordUsage,
  ReturnCredits,
  RevokeApiKey,
  SetQuota,
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
  InvoiceCommit,
  InvoiceIssued,
  LedgerEvent,
  PoolBalances,
  QuotaAllocated,
  SubAccountRenamed,
  UsageRecorded,
} from './ledger.events';
import {
  liveReceipt,
  poolBalances,
  requireParent,
  requireSubAccount,
  termAt,
  type LedgerState,
  type ParentState,
  type SubAccountState,
  type UsageKeyLookup,
} from './ledger.state';
import {
  requireAttributes,
  requireBillingModel,
  requireCurrency,
  requireId,
  requireInstant,
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

export type UsageDecision = { events: UsageRecorded[]; result: UsageResult };

export function decide(command: LedgerCommand, state: LedgerState): LedgerEvent[] {
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
      return decideUsage(command, state).events;
    case 'CloseSubAccount':
      return closeSubAccount(command, state);
    case 'IssueApiKey':
      return issueApiKey(command, state);
    case 'RevokeApiKey':
      return revokeApiKey(command, state);
    case 'CloseBillingPeriod':
      return closeBillingPeriod(command, state);
    default:
      throw new DomainError('validation_failed', `unknown command ${(command as { type: string }).type}`);
  }
}

/** The result a caller gets back besides the events: the usage answer for RecordUsage. */
export type LedgerResult = UsageResult | null;

export type LedgerDecision = { events: LedgerEvent[]; result: LedgerResult };

/** decide with the command's answer, the shape the application's command processor expects. */
export function decideWithResult(
  command: LedgerCommand,
  state: LedgerState,
  lookup?: UsageKeyLookup,
): LedgerDecision {
  if (command.type === 'RecordUsage') return decideUsage(command, state, lookup);
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
  const parent = requireParent(state);
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
      },
    },
  ];
}

function updateParentAccount(command: UpdateParentAccount, state: LedgerState): LedgerEvent[] {
  const data = command.data;
  if (data.name === undefined && data.creditPrice === undefined) {
    throw new DomainError('validation_failed', 'nothing to change: give name or creditPrice');
  }
  const name = data.name === undefined ? undefined : requireName('name', data.name);
  const creditPrice =
    data.creditPrice === undefined ? undefined : requirePrice('creditPrice', data.creditPrice);
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
  return events;
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
  requireAvailable(parent, quota);
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
      quotaAllocated(subAccountId, quota, 'initial-quota', {
        subAccount: { quota, used: 0, remaining: quota },
        pool: allocate(parent, quota),
      }),
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
    requireAvailable(parent, credits);
    return [
      quotaAllocated(subAccount.id, credits, 'quota-raised', afterAllocation(subAccount, parent, credits)),
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
    return [creditsReturned(subAccount, parent, credits, 'quota-lowered')];
  }
  return [];
}

function allocateQuota(command: AllocateQuota, state: LedgerState): LedgerEvent[] {
  const credits = requireCredits('credits', command.data.credits, { min: 1 });
  const parent = requireParent(state);
  const subAccount = requireActive(requireSubAccount(state, command.data.subAccountId));
  requireAvailable(parent, credits);
  return [quotaAllocated(subAccount.id, credits, 'allocation', afterAllocation(subAccount, parent, credits))];
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
  return [creditsReturned(subAccount, parent, credits, 'return')];
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

/** Rule 1. */
function requireAvailable(parent: ParentState, credits: number): void {
  const available = availableOf(parent);
  if (credits > available) {
    throw new DomainError(
      'insufficient_pool',
      `allocating ${credits} credits exceeds the ${available} available in the pool`,
    );
  }
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
  return parent.purchased - parent.allocated;
}

/** The pool after moving `credits` from it into quotas (negative: back from quotas). */
function allocate(parent: ParentState, credits: number): PoolBalances {
  return {
    purchased: parent.purchased,
    allocated: parent.allocated + credits,
    available: availableOf(parent) - credits,
    used: parent.used,
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
): QuotaAllocated {
  return { type: 'QuotaAllocated', data: { subAccountId, credits, reason, balancesAfter } };
}

function creditsReturned(
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
    },
  };
}
