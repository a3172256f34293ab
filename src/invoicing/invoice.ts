import { BillingValidationError } from './billing-validation.error';
import { minorUnitExponent } from './currencies';
import {
  formatMinor,
  lineAmountMinor,
  MAX_CREDITS_PER_OPERATION,
  parseUnitPrice,
  toCredits,
  toJsonInteger,
} from './money';
import { BillingPeriod, parseBillingPeriod, periodBounds, periodOf, toInstant } from './period';

/**
 * Pure invoice building for one parent and one billing period. Everything the result depends on
 * is in the input (no clock, no I/O), so replaying a period from the log recomputes the identical
 * invoices. The choices are explained in docs/money-and-invoices.md.
 */

/** Who pays for a sub-account's usage in a period: its parent, on the consolidated invoice, or itself. */
export type BillingModel = 'bill-to-parent' | 'bill-to-sub-account';
export const BILLING_MODELS: readonly BillingModel[] = ['bill-to-parent', 'bill-to-sub-account'];

export interface InvoiceParent {
  readonly parentId: string;
  /** ISO 4217 code the parent is billed in; all its sub-accounts share it. */
  readonly currency: string;
}

/** A sub-account's terms for one billing period (fixed when the period started, rule 7). */
export interface SubAccountTerms {
  readonly subAccountId: string;
  readonly name: string;
  readonly billingModel: BillingModel;
  /** The effective price per credit: the sub-account's override, else the parent's price. */
  readonly creditPrice: string;
}

/** Terms of an earlier period, needed to bill late usage that occurred in it. */
export interface PastPeriodTerms extends SubAccountTerms {
  readonly period: BillingPeriod;
}

/** One usage record billed in the period being invoiced. */
export interface BillableUsage {
  readonly subAccountId: string;
  readonly usageId: string;
  readonly meter: string;
  readonly credits: bigint | number;
  /** When the usage happened (ISO 8601 with zone). */
  readonly occurredAt: string;
  /** Rule 8: it arrived after its own period had been closed, so it is billed in this one. */
  readonly late: boolean;
}

/**
 * On-time usage of one sub-account and meter already summed, as the ledger keeps it for an open
 * period. Unlike a single record it has no 10^12 bound: a month of records can sum past it.
 */
export interface BillableUsageTotal {
  readonly subAccountId: string;
  readonly meter: string;
  readonly credits: bigint | number;
}

/**
 * A reversal of usage billed on an invoice already issued (SPEC §10): credited on this period's
 * invoice of the sub-account at the price it was billed at, naming that invoice.
 */
export interface UsageCredit {
  readonly subAccountId: string;
  readonly usageId: string;
  readonly meter: string;
  readonly credits: bigint | number;
  readonly unitPrice: string;
  readonly originalPeriod: BillingPeriod;
  readonly originalInvoiceId: string;
}

export interface BuildInvoicesInput {
  readonly parent: InvoiceParent;
  readonly period: BillingPeriod;
  /**
   * The terms of `period` for every sub-account that existed during it (created before the period
   * ended and not closed before it began), one entry each.
   */
  readonly terms: readonly SubAccountTerms[];
  /** Terms of the original period of every late usage record, one entry per (sub-account, period). */
  readonly pastTerms?: readonly PastPeriodTerms[];
  /** Every usage record billed in `period`, on time or late, in any order. */
  readonly usage: readonly BillableUsage[];
  /** On-time usage given as totals instead of records; added to the lines as records would be. */
  readonly usageTotals?: readonly BillableUsageTotal[];
  /** Reversals of usage of closed periods, each a negative credit line. */
  readonly usageCredits?: readonly UsageCredit[];
  readonly issuedAt: string;
  /** The parent's next invoice sequence number: 1 + the sequence of its last issued invoice (1 if none). */
  readonly nextSequence: number;
}

export interface InvoiceLine {
  readonly meter: string;
  readonly unitPrice: string;
  /** Total credits of the line as an integer string (sums can exceed 2^53). */
  readonly credits: string;
  /** credits × unitPrice in minor units, rounded half-even, as an integer string. */
  readonly amountMinor: string;
  /** `amountMinor` in major units for people, e.g. "12.35". */
  readonly amount: string;
}

export interface LateUsageItem {
  readonly usageId: string;
  /** The original time of the usage, normalised to ISO 8601 UTC. */
  readonly occurredAt: string;
  readonly credits: string;
}

/** Late usage of one original period and meter, priced at that period's terms. */
export interface LateInvoiceLine extends InvoiceLine {
  readonly originalPeriod: BillingPeriod;
  readonly usage: readonly LateUsageItem[];
}

/** A reversed usage of an issued invoice: `amountMinor` is negative, `credits` the credits reversed. */
export interface CreditInvoiceLine extends InvoiceLine {
  readonly usageId: string;
  readonly originalPeriod: BillingPeriod;
  readonly originalInvoiceId: string;
}

/** What one sub-account owes on an invoice. */
export interface InvoiceSection {
  readonly subAccountId: string;
  readonly name: string;
  readonly lines: readonly InvoiceLine[];
  readonly lateLines: readonly LateInvoiceLine[];
  /** Present only when the section credits reversed usage of an issued invoice. */
  readonly creditLines?: readonly CreditInvoiceLine[];
  readonly subtotalMinor: string;
  readonly subtotal: string;
}

export interface InvoiceBillTo {
  readonly type: 'parent' | 'sub-account';
  readonly id: string;
}

/** An invoice as issued: JSON-ready (no bigint, no Date), so it can be stored in an event as is. */
export interface Invoice {
  readonly invoiceId: string;
  readonly number: string;
  readonly sequence: number;
  readonly parentId: string;
  readonly period: BillingPeriod;
  readonly currency: string;
  readonly billTo: InvoiceBillTo;
  readonly sections: readonly InvoiceSection[];
  readonly subtotalMinor: string;
  /** No tax is charged, so the total equals the subtotal; both are kept so a tax can be added. */
  readonly totalMinor: string;
  readonly subtotal: string;
  readonly total: string;
  readonly issuedAt: string;
}

/** The deterministic id of the parent's consolidated invoice for a period. */
export function parentInvoiceId(parentId: string, period: BillingPeriod): string {
  return `inv-${parentId}-${period}-parent`;
}

/** The deterministic id of a bill-to-sub-account invoice for a period. */
export function subAccountInvoiceId(parentId: string, period: BillingPeriod, subAccountId: string): string {
  return `inv-${parentId}-${period}-sub-${subAccountId}`;
}

/** `<parentId>-<YYYY of the period>-<sequence, zero-padded to 6>`, e.g. "acme-2026-000042". */
export function invoiceNumber(parentId: string, period: BillingPeriod, sequence: number): string {
  return `${parentId}-${period.slice(0, 4)}-${String(sequence).padStart(6, '0')}`;
}

/** Code-unit order: the same on every machine and locale, unlike `localeCompare`. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function fail(message: string): never {
  throw new BillingValidationError(message);
}

function requireText(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(`${what} must be a non-empty string`);
  return value;
}

function validateTerms(terms: SubAccountTerms, what: string): void {
  requireText(terms.subAccountId, `${what}.subAccountId`);
  if (typeof terms.name !== 'string') fail(`${what}.name must be a string`);
  if (!BILLING_MODELS.includes(terms.billingModel)) {
    fail(`${what}.billingModel must be bill-to-parent or bill-to-sub-account`);
  }
  parseUnitPrice(terms.creditPrice);
}

interface PricedUsage {
  readonly usage: BillableUsage;
  readonly credits: bigint;
  readonly occurredAt: string;
  readonly terms: SubAccountTerms;
  readonly originalPeriod: BillingPeriod;
}

/** The usage and section name of one sub-account on one invoice, before pricing. */
interface SectionDraft {
  name: string;
  readonly onTime: PricedUsage[];
  readonly late: PricedUsage[];
  readonly credits: UsageCredit[];
}

interface InvoiceDraft {
  readonly billTo: InvoiceBillTo;
  readonly sections: Map<string, SectionDraft>;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function sumCredits(items: readonly PricedUsage[]): bigint {
  return items.reduce((total, item) => total + item.credits, 0n);
}

function priceLine(meter: string, unitPrice: string, credits: bigint, currency: string): InvoiceLine {
  const amountMinor = lineAmountMinor(credits, unitPrice, currency);
  return {
    meter,
    unitPrice,
    credits: toJsonInteger(credits),
    amountMinor: toJsonInteger(amountMinor),
    amount: formatMinor(amountMinor, currency),
  };
}

function buildSection(subAccountId: string, draft: SectionDraft, currency: string): InvoiceSection {
  // On-time usage of a sub-account has one price (its terms for the period), so a line per meter
  // is a line per (meter, unit price).
  const lines = [...groupBy(draft.onTime, (item) => item.usage.meter)]
    .sort(([a], [b]) => byCodeUnits(a, b))
    .map(([meter, items]) => priceLine(meter, items[0].terms.creditPrice, sumCredits(items), currency));

  // Late usage is grouped per original period and meter (one price each, the terms of that period),
  // and rounded once per group so a trickle of tiny late records is not rounded away one by one.
  const lateGroups = groupBy(draft.late, (item) => `${item.originalPeriod}\u0000${item.usage.meter}`);
  const lateLines = [...lateGroups.values()]
    .map((items): LateInvoiceLine => {
      const { originalPeriod, terms } = items[0];
      const usage = [...items]
        .sort(
          (a, b) => byCodeUnits(a.occurredAt, b.occurredAt) || byCodeUnits(a.usage.usageId, b.usage.usageId),
        )
        .map((item) => ({
          usageId: item.usage.usageId,
          occurredAt: item.occurredAt,
          credits: toJsonInteger(item.credits),
        }));
      return {
        ...priceLine(items[0].usage.meter, terms.creditPrice, sumCredits(items), currency),
        originalPeriod,
        usage,
      };
    })
    .sort((a, b) => byCodeUnits(a.originalPeriod, b.originalPeriod) || byCodeUnits(a.meter, b.meter));

  const creditLines = [...draft.credits]
    .sort((a, b) => byCodeUnits(a.originalPeriod, b.originalPeriod) || byCodeUnits(a.usageId, b.usageId))
    .map((credit): CreditInvoiceLine => {
      const amountMinor = -lineAmountMinor(credit.credits, credit.unitPrice, currency);
      return {
        meter: credit.meter,
        unitPrice: credit.unitPrice,
        credits: toJsonInteger(toCredits(credit.credits)),
        amountMinor: toJsonInteger(amountMinor),
        amount: formatMinor(amountMinor, currency),
        usageId: credit.usageId,
        originalPeriod: credit.originalPeriod,
        originalInvoiceId: credit.originalInvoiceId,
      };
    });
  const subtotalMinor = [...lines, ...lateLines, ...creditLines].reduce(
    (total, line) => total + BigInt(line.amountMinor),
    0n,
  );
  return {
    subAccountId,
    name: draft.name,
    lines,
    lateLines,
    ...(creditLines.length > 0 ? { creditLines } : {}),
    subtotalMinor: toJsonInteger(subtotalMinor),
    subtotal: formatMinor(subtotalMinor, currency),
  };
}

/**
 * Builds every invoice of `period` for one parent:
 * - exactly one consolidated invoice to the parent, with a section for every `bill-to-parent`
 *   sub-account that had terms in the period (zero usage gives an empty section), and
 * - one invoice per `bill-to-sub-account` sub-account that had terms in the period, even with
 *   zero usage.
 * Late usage is billed to whoever paid in its original period, at that period's price, as late
 * lines. Sequences are assigned from `nextSequence` without gaps: the parent invoice first, then
 * the sub-account invoices in sub-account id order.
 */
export function buildInvoices(input: BuildInvoicesInput): Invoice[] {
  const parentId = requireText(input.parent?.parentId, 'parent.parentId');
  const currency = input.parent.currency;
  minorUnitExponent(currency);
  const period = parseBillingPeriod(input.period);
  const issuedAt = toInstant(input.issuedAt).toISOString();
  if (!Number.isSafeInteger(input.nextSequence) || input.nextSequence < 1) {
    fail('nextSequence must be a positive integer');
  }

  const currentTerms = new Map<string, SubAccountTerms>();
  for (const terms of input.terms) {
    validateTerms(terms, 'terms');
    if (currentTerms.has(terms.subAccountId)) fail(`terms given twice for sub-account ${terms.subAccountId}`);
    currentTerms.set(terms.subAccountId, terms);
  }
  const pastTerms = new Map<string, PastPeriodTerms>();
  for (const terms of input.pastTerms ?? []) {
    validateTerms(terms, 'pastTerms');
    if (parseBillingPeriod(terms.period) >= period)
      fail(`pastTerms.period ${terms.period} is not before ${period}`);
    const key = `${terms.period}\u0000${terms.subAccountId}`;
    if (pastTerms.has(key)) fail(`pastTerms given twice for ${terms.subAccountId} in ${terms.period}`);
    pastTerms.set(key, terms);
  }

  const drafts = new Map<string, InvoiceDraft>();
  const draftFor = (billTo: InvoiceBillTo): InvoiceDraft => {
    const key = `${billTo.type}\u0000${billTo.id}`;
    let draft = drafts.get(key);
    if (!draft) {
      draft = { billTo, sections: new Map() };
      drafts.set(key, draft);
    }
    return draft;
  };
  const sectionFor = (terms: SubAccountTerms): SectionDraft => {
    const billTo: InvoiceBillTo =
      terms.billingModel === 'bill-to-parent'
        ? { type: 'parent', id: parentId }
        : { type: 'sub-account', id: terms.subAccountId };
    const sections = draftFor(billTo).sections;
    let section = sections.get(terms.subAccountId);
    if (!section) {
      section = { name: terms.name, onTime: [], late: [], credits: [] };
      sections.set(terms.subAccountId, section);
    }
    // The current name wins over a past period's, so a renamed sub-account shows one name.
    const current = currentTerms.get(terms.subAccountId);
    if (current) section.name = current.name;
    return section;
  };

  draftFor({ type: 'parent', id: parentId });
  for (const terms of currentTerms.values()) sectionFor(terms);

  const seenUsage = new Set<string>();
  for (const usage of input.usage) {
    const subAccountId = requireText(usage.subAccountId, 'usage.subAccountId');
    const usageId = requireText(usage.usageId, 'usage.usageId');
    requireText(usage.meter, `meter of usage ${usageId}`);
    const usageKey = `${subAccountId}\u0000${usageId}`;
    if (seenUsage.has(usageKey)) fail(`usage ${usageId} of ${subAccountId} given twice`);
    seenUsage.add(usageKey);
    const credits = toCredits(usage.credits);
    if (credits > BigInt(MAX_CREDITS_PER_OPERATION))
      fail(`usage ${usageId} exceeds ${MAX_CREDITS_PER_OPERATION} credits`);
    const occurredAt = toInstant(usage.occurredAt).toISOString();
    const originalPeriod = periodOf(occurredAt);

    let terms: SubAccountTerms | undefined;
    if (usage.late === true) {
      if (originalPeriod >= period)
        fail(`late usage ${usageId} occurred in ${originalPeriod}, not before ${period}`);
      terms = pastTerms.get(`${originalPeriod}\u0000${subAccountId}`);
      if (!terms)
        fail(`no terms of ${originalPeriod} for sub-account ${subAccountId} (late usage ${usageId})`);
    } else if (usage.late === false) {
      if (originalPeriod !== period)
        fail(`usage ${usageId} occurred in ${originalPeriod}, outside ${period}`);
      terms = currentTerms.get(subAccountId);
      if (!terms) fail(`no terms of ${period} for sub-account ${subAccountId} (usage ${usageId})`);
    } else {
      fail(`usage ${usageId}: late must be a boolean`);
    }

    const priced: PricedUsage = { usage, credits, occurredAt, terms, originalPeriod };
    const section = sectionFor(terms);
    (usage.late ? section.late : section.onTime).push(priced);
  }

  const periodStartInstant = periodBounds(period).start.toISOString();
  for (const total of input.usageTotals ?? []) {
    const subAccountId = requireText(total.subAccountId, 'usageTotals.subAccountId');
    const meter = requireText(total.meter, 'usageTotals.meter');
    const terms = currentTerms.get(subAccountId);
    if (!terms) fail(`no terms of ${period} for sub-account ${subAccountId} (usage total of ${meter})`);
    const usage: BillableUsage = {
      subAccountId,
      usageId: '',
      meter,
      credits: total.credits,
      occurredAt: periodStartInstant,
      late: false,
    };
    const credits = toCredits(total.credits);
    sectionFor(terms).onTime.push({
      usage,
      credits,
      occurredAt: periodStartInstant,
      terms,
      originalPeriod: period,
    });
  }

  for (const credit of input.usageCredits ?? []) {
    const subAccountId = requireText(credit.subAccountId, 'usageCredits.subAccountId');
    const terms = currentTerms.get(subAccountId);
    if (!terms)
      fail(`no terms of ${period} for sub-account ${subAccountId} (credit of usage ${credit.usageId})`);
    parseUnitPrice(credit.unitPrice);
    if (parseBillingPeriod(credit.originalPeriod) >= period) {
      fail(`the credit of usage ${credit.usageId} is of ${credit.originalPeriod}, not before ${period}`);
    }
    sectionFor(terms).credits.push(credit);
  }

  const ordered = [...drafts.values()].sort((a, b) => {
    if (a.billTo.type !== b.billTo.type) return a.billTo.type === 'parent' ? -1 : 1;
    return byCodeUnits(a.billTo.id, b.billTo.id);
  });

  return ordered.map((draft, index): Invoice => {
    const sequence = input.nextSequence + index;
    const sections = [...draft.sections]
      .sort(([a], [b]) => byCodeUnits(a, b))
      .map(([subAccountId, section]) => buildSection(subAccountId, section, currency));
    const subtotalMinor = sections.reduce((total, section) => total + BigInt(section.subtotalMinor), 0n);
    return {
      invoiceId:
        draft.billTo.type === 'parent'
          ? parentInvoiceId(parentId, period)
          : subAccountInvoiceId(parentId, period, draft.billTo.id),
      number: invoiceNumber(parentId, period, sequence),
      sequence,
      parentId,
      period,
      currency,
      billTo: draft.billTo,
      sections,
      subtotalMinor: toJsonInteger(subtotalMinor),
      totalMinor: toJsonInteger(subtotalMinor),
      subtotal: formatMinor(subtotalMinor, currency),
      total: formatMinor(subtotalMinor, currency),
      issuedAt,
    };
  });
}
