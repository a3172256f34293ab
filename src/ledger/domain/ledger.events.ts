import type { BillingModel, BillingPeriod, Invoice } from '../../invoicing';

/**
 * The public contract of the `ledger-<parentId>` stream (docs/events.md). Types are literal
 * PascalCase strings so that renaming a class can never rename an event; data is plain JSON
 * (credits are JSON numbers, see credits.ts for why they stay below 2^53).
 */

export { BILLING_MODELS, type BillingModel } from '../../invoicing';

/** An ISO 8601 instant in UTC as produced by `Date.prototype.toISOString`. */
export type IsoInstant = string;

/** A non-negative decimal string such as `"0.00099"`; never a binary float. */
export type DecimalPrice = string;

export type PoolBalances = {
  purchased: number;
  /** Sum of all sub-account quotas: allocations net of returns and of expired credits. */
  allocated: number;
  /** purchased − allocated − expired. */
  available: number;
  /** Sum of all sub-accounts' used credits. */
  used: number;
  /**
   * Credits that lapsed with their lot (SPEC §10), from the pool and from quotas alike. Absent in
   * events recorded before lots existed, where it was 0.
   */
  expired?: number;
};

export type SubAccountBalances = { quota: number; used: number; remaining: number };

export type PoolBalancesAfter = { pool: PoolBalances };
export type BalancesAfter = { subAccount: SubAccountBalances; pool: PoolBalances };

export type ActorType = 'operator' | 'parent' | 'sub-account' | 'service';

/** Filled in by the application when it appends; the domain never reads it. */
export type LedgerEventMetadata = {
  $correlationId: string;
  $causationId: string;
  actor: { type: ActorType; id: string };
  requestId: string;
  schemaVersion: 1;
  /** The service clock (SUBLEDGER_NOW may move it), never the event store's timestamp. */
  recordedAt: IsoInstant;
};

type DomainEvent<Type extends string, Data> = Readonly<{ type: Type; data: Readonly<Data> }>;

export type ParentAccountOpened = DomainEvent<
  'ParentAccountOpened',
  { parentId: string; name: string; currency: string; creditPrice: DecimalPrice; openedAt: IsoInstant }
>;

export type ParentAccountRenamed = DomainEvent<'ParentAccountRenamed', { name: string }>;

/** `paid`: bought; `granted`: given (promotional, goodwill). Only the label differs. */
export type LotKind = 'paid' | 'granted';
export const LOT_KINDS: readonly LotKind[] = ['paid', 'granted'];

/** Credits of one lot moved by an event (SPEC §10): every credit movement lists its portions. */
export type LotPortion = { lotId: string; credits: number };

/**
 * Schema version 2 adds the lot fields (lotId, kind, expiresAt, priority). A version 1 event is read as
 * a paid lot without expiry, priority 50, with the id `lot-r<revision>` (its revision in the stream).
 */
export type CreditsPurchased = DomainEvent<
  'CreditsPurchased',
  {
    credits: number;
    reference: string | null;
    purchasedAt: IsoInstant;
    balancesAfter: PoolBalancesAfter;
    lotId?: string;
    kind?: LotKind;
    expiresAt?: IsoInstant | null;
    priority?: number;
  }
>;

export type SubAccountCreated = DomainEvent<
  'SubAccountCreated',
  {
    subAccountId: string;
    name: string;
    region: string | null;
    billingModel: BillingModel;
    /** The sub-account's own price; null means it pays the parent's price. */
    creditPrice: DecimalPrice | null;
    createdAt: IsoInstant;
  }
>;

export type SubAccountRenamed = DomainEvent<'SubAccountRenamed', { subAccountId: string; name: string }>;

export type QuotaAllocationReason = 'allocation' | 'quota-raised' | 'initial-quota' | 'recurring';

/** `portions`: the pool's lots it took, in burn order (absent before lots: folded by the same rule). */
export type QuotaAllocated = DomainEvent<
  'QuotaAllocated',
  {
    subAccountId: string;
    credits: number;
    reason: QuotaAllocationReason;
    balancesAfter: BalancesAfter;
    portions?: LotPortion[];
    /** Reason `recurring` only: the period it is the recurring allocation of. */
    period?: BillingPeriod;
  }
>;

export type CreditsReturnReason = 'return' | 'quota-lowered' | 'period-reset';

/** `portions`: the unused lot portions given back, those that would burn last first. */
export type CreditsReturned = DomainEvent<
  'CreditsReturned',
  {
    subAccountId: string;
    credits: number;
    reason: CreditsReturnReason;
    balancesAfter: BalancesAfter;
    portions?: LotPortion[];
  }
>;

export type UsageAttributes = Readonly<Record<string, string | number | boolean>>;

export type UsageRecorded = DomainEvent<
  'UsageRecorded',
  {
    subAccountId: string;
    usageId: string;
    idempotencyKey: string;
    credits: number;
    meter: string;
    occurredAt: IsoInstant;
    attributes?: UsageAttributes;
    /** The period this usage is invoiced in. */
    billingPeriod: BillingPeriod;
    /** True when occurredAt's period was already closed, so it is billed in a later one. */
    late: boolean;
    recordedAt: IsoInstant;
    /** Hash of the normalised request payload, compared on an idempotent repeat. */
    fingerprint: string;
    balancesAfter: BalancesAfter;
    /** The sub-account's lot portions it consumed, in burn order. */
    portions?: LotPortion[];
  }
>;

/**
 * What is left of one lot lapsing at its `expiresAt` plus the grace period: the pool's part and the
 * unused part of every quota holding some of it. Used credits never expire.
 */
export type CreditsExpired = DomainEvent<
  'CreditsExpired',
  {
    lotId: string;
    expiresAt: IsoInstant;
    expiredAt: IsoInstant;
    /** fromPool + Σ fromSubAccounts[].credits. */
    credits: number;
    fromPool: number;
    fromSubAccounts: { subAccountId: string; credits: number; balancesAfter: SubAccountBalances }[];
    balancesAfter: PoolBalancesAfter;
  }
>;

/** PUT …/recurring-allocation: `credits` allocated again at each period start; null stops it. */
export type RecurringAllocationSet = DomainEvent<
  'RecurringAllocationSet',
  { subAccountId: string; credits: number | null; setAt: IsoInstant }
>;

/** A period's recurring allocation the pool could not cover: nothing else was recorded for it. */
export type RecurringAllocationFailed = DomainEvent<
  'RecurringAllocationFailed',
  { subAccountId: string; period: BillingPeriod; credits: number; available: number; failedAt: IsoInstant }
>;

/**
 * A correction of recorded usage (SPEC §10), linked to it by `$causationId` too. The credits go back
 * to the quota (the used portions that would burn last, `portions`). While `originalPeriod` is open
 * its draft loses them; once it is closed, `creditLine` says where the credit is billed instead.
 */
export type UsageReversed = DomainEvent<
  'UsageReversed',
  {
    subAccountId: string;
    usageId: string;
    reversalId: string;
    idempotencyKey: string;
    credits: number;
    reason: string;
    /** The period the usage was billed in. */
    originalPeriod: BillingPeriod;
    /** Of the usage, so analytics can net it out of the right bucket. */
    meter: string;
    occurredAt: IsoInstant;
    /**
     * Present when originalPeriod was closed: the credit line goes on the invoice of `period` for the
     * sub-account, at `unitPrice` (the usage's own price), naming `originalInvoiceId`.
     */
    creditLine: { period: BillingPeriod; originalInvoiceId: string; unitPrice: DecimalPrice } | null;
    reversedAt: IsoInstant;
    fingerprint: string;
    portions: LotPortion[];
    balancesAfter: BalancesAfter;
  }
>;

export type BillingModelChanged = DomainEvent<
  'BillingModelChanged',
  { subAccountId: string; billingModel: BillingModel; effectiveFrom: BillingPeriod; changedAt: IsoInstant }
>;

export type CreditPriceChanged = DomainEvent<
  'CreditPriceChanged',
  | {
      scope: 'parent';
      subAccountId: null;
      creditPrice: DecimalPrice;
      effectiveFrom: BillingPeriod;
      changedAt: IsoInstant;
    }
  | {
      scope: 'sub-account';
      subAccountId: string;
      /** null removes the override: the sub-account pays the parent's price again. */
      creditPrice: DecimalPrice | null;
      effectiveFrom: BillingPeriod;
      changedAt: IsoInstant;
    }
>;

export type ApiKeyIssued = DomainEvent<
  'ApiKeyIssued',
  {
    keyId: string;
    /** null for a parent key. */
    subAccountId: string | null;
    prefix: string;
    secretHash: string;
    issuedAt: IsoInstant;
  }
>;

export type ApiKeyRevocationReason = 'revoked' | 'sub-account-closed';

export type ApiKeyRevoked = DomainEvent<
  'ApiKeyRevoked',
  { keyId: string; subAccountId: string | null; reason: ApiKeyRevocationReason; revokedAt: IsoInstant }
>;

export type SubAccountClosed = DomainEvent<
  'SubAccountClosed',
  {
    subAccountId: string;
    closedAt: IsoInstant;
    /** Unused credits given back to the pool by the closing itself (a credit movement). */
    returnedCredits: number;
    balancesAfter: BalancesAfter;
    portions?: LotPortion[];
  }
>;

export type BillingPeriodClosed = DomainEvent<
  'BillingPeriodClosed',
  {
    period: BillingPeriod;
    closedAt: IsoInstant;
    /**
     * Schema version 2 only: the close's invoices did not fit one append, so they were written first
     * to `ledgerinvoices-<parentId>` and this closing commits exactly the events it names there (no
     * InvoiceIssued follows it in the ledger stream). Absent: its InvoiceIssued events follow it.
     */
    invoices?: InvoiceCommit;
  }
>;

/** One append of a close's invoices to `ledgerinvoices-<parentId>`, as its closing names it. */
export type InvoiceChunkRef = {
  firstRevision: number;
  lastRevision: number;
  /** invoiceId of the first and last event of the chunk (invoices are in invoiceId order). */
  firstInvoiceId: string;
  lastInvoiceId: string;
  /** `sha256:<hex>` of the chunk's events (docs/events.md, "Invoices of a big close"). */
  digest: string;
};

/** Where a committed close's invoices are, and what they must hash to. */
export type InvoiceCommit = {
  stream: string;
  firstRevision: number;
  lastRevision: number;
  /** Invoices issued (an invoice split in parts counts once). */
  count: number;
  /** Events in the range that belong to the closing: every one of firstRevision..lastRevision. */
  events: number;
  /** `sha256:<hex>` over the chunks' digests, in order. */
  digest: string;
  chunks: InvoiceChunkRef[];
};

/**
 * Part `part` of `parts` of one invoice too big for one event (its sections alone pass ~256 KiB),
 * only in `ledgerinvoices-<parentId>`: part 1 carries the invoice with the first sections, each
 * later part more sections; the invoice is part 1 with every part's sections concatenated in order.
 */
export type InvoicePartIssued = DomainEvent<
  'InvoicePartIssued',
  {
    invoiceId: string;
    period: BillingPeriod;
    part: number;
    parts: number;
    /** Part 1 only: the invoice with `sections` holding this part's sections. */
    invoice?: Invoice;
    /** Parts 2..n only: the next sections, in order. */
    sections?: Invoice['sections'];
  }
>;

/** The events of `ledgerinvoices-<parentId>`: a committed close's invoices, whole or in parts. */
export type InvoiceStreamEvent = InvoiceIssued | InvoicePartIssued;

/**
 * One issued invoice, whole, as the invoicing core built it (src/invoicing, amounts as
 * integer strings): the log itself is the record of what was billed, and it never changes.
 * Appended right after its BillingPeriodClosed, in the same append; or, for a close whose invoices
 * do not fit one append, in `ledgerinvoices-<parentId>` where that closing's `invoices` names it.
 */
export type InvoiceIssued = DomainEvent<'InvoiceIssued', Invoice>;

/** PATCH of a parent's alerts (SPEC §11): thresholds in percent of quota, ascending; the pool's floor. */
export type AlertThresholdsChanged = DomainEvent<
  'AlertThresholdsChanged',
  { alertThresholds: number[]; lowPoolThreshold: number | null; changedAt: IsoInstant }
>;

/**
 * A sub-account's used credits reached `threshold` percent of its quota, decided with the event that
 * crossed it (usage, or a quota lowered by a return or an expiry), once per crossing.
 */
export type QuotaThresholdReached = DomainEvent<
  'QuotaThresholdReached',
  { subAccountId: string; threshold: number; quota: number; used: number }
>;

/** The pool's available credits fell below the parent's `lowPoolThreshold`, once per crossing. */
export type PoolBalanceLow = DomainEvent<'PoolBalanceLow', { available: number; threshold: number }>;

export type LedgerEvent =
  | ParentAccountOpened
  | ParentAccountRenamed
  | CreditsPurchased
  | SubAccountCreated
  | SubAccountRenamed
  | QuotaAllocated
  | CreditsReturned
  | UsageRecorded
  | BillingModelChanged
  | CreditPriceChanged
  | ApiKeyIssued
  | ApiKeyRevoked
  | SubAccountClosed
  | BillingPeriodClosed
  | InvoiceIssued
  | CreditsExpired
  | RecurringAllocationSet
  | RecurringAllocationFailed
  | UsageReversed
  | AlertThresholdsChanged
  | QuotaThresholdReached
  | PoolBalanceLow;

export type LedgerEventType = LedgerEvent['type'];

/** An event as stored: the application adds metadata when it appends. */
export type RecordedLedgerEvent = LedgerEvent & { readonly metadata: LedgerEventMetadata };

export const LEDGER_EVENT_TYPES: readonly LedgerEventType[] = [
  'ParentAccountOpened',
  'ParentAccountRenamed',
  'CreditsPurchased',
  'SubAccountCreated',
  'SubAccountRenamed',
  'QuotaAllocated',
  'CreditsReturned',
  'UsageRecorded',
  'BillingModelChanged',
  'CreditPriceChanged',
  'ApiKeyIssued',
  'ApiKeyRevoked',
  'SubAccountClosed',
  'BillingPeriodClosed',
  'InvoiceIssued',
  'CreditsExpired',
  'RecurringAllocationSet',
  'RecurringAllocationFailed',
  'UsageReversed',
  'AlertThresholdsChanged',
  'QuotaThresholdReached',
  'PoolBalanceLow',
];
