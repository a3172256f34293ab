import { createHash } from 'node:crypto';
import {
  buildInvoices,
  periodBounds,
  periodOf,
  type BillableUsage,
  type BillableUsageTotal,
  type BillingPeriod,
  type Invoice,
  type PastPeriodTerms,
  type SubAccountTerms,
} from '../../invoicing';
import { DomainError } from './domain-error';
import type { InvoiceStreamEvent } from './ledger.events';
import { termsFor } from './ledger.queries';
import { requireParent, type CreditReversal, type LedgerState, type LateUsage } from './ledger.state';

/*
 * The ledger's side of billing: what docs/money-and-invoices.md asks the adapter to supply,
 * read from the state of one `ledger-<parentId>` stream. Closing a period, the live draft and the
 * replay all build their invoices with `invoicesOf`, so a draft is exactly what a close would issue
 * at that instant, and a replay differs from the close only in the usage it feeds in.
 */

/**
 * The terms of `period` for every sub-account that had any in it: created before the period
 * ended and not closed before it began. A sub-account created mid-period has its creation terms
 * for the whole period (rule 7: the terms it started the period with).
 */
function periodTerms(state: LedgerState, period: BillingPeriod): SubAccountTerms[] {
  const { start, end } = periodBounds(period);
  const terms: SubAccountTerms[] = [];
  for (const subAccount of state.subAccounts.values()) {
    if (Date.parse(subAccount.createdAt) >= end.getTime()) continue;
    if (subAccount.closedAt !== null && Date.parse(subAccount.closedAt) < start.getTime()) continue;
    const { billingModel, creditPrice } = termsFor(state, subAccount.id, period);
    terms.push({ subAccountId: subAccount.id, name: subAccount.name, billingModel, creditPrice });
  }
  return terms;
}

/** Late records priced and routed with the terms of the period each one occurred in (rule 8). */
function lateUsageInput(
  state: LedgerState,
  late: readonly LateUsage[],
): { usage: BillableUsage[]; pastTerms: PastPeriodTerms[] } {
  const pastTerms = new Map<string, PastPeriodTerms>();
  const usage = late.map((record): BillableUsage => {
    const period = periodOf(new Date(record.occurredAt));
    const key = `${period}\u0000${record.subAccountId}`;
    if (!pastTerms.has(key)) {
      const subAccount = state.subAccounts.get(record.subAccountId);
      const { billingModel, creditPrice } = termsFor(state, record.subAccountId, period);
      pastTerms.set(key, {
        period,
        subAccountId: record.subAccountId,
        name: subAccount?.name ?? record.subAccountId,
        billingModel,
        creditPrice,
      });
    }
    return { ...record, late: true };
  });
  return { usage, pastTerms: [...pastTerms.values()] };
}

/** The usage billed in one period: on-time credits per sub-account and meter, late records one by one. */
export type PeriodUsageInput = {
  readonly onTime: ReadonlyMap<string, ReadonlyMap<string, number | bigint>>;
  readonly late: readonly LateUsage[];
  /** Reversals of usage of closed periods, credited in this one. */
  readonly reversals?: readonly CreditReversal[];
};

/**
 * Every invoice of `period` for the usage given, with the terms, names and numbering of `state`
 * (the one builder of `buildInvoices`' input). `nextSequence` is the one a close would take now.
 */
export function invoicesOf(
  state: LedgerState,
  period: BillingPeriod,
  usage: PeriodUsageInput,
  issuedAt: Date,
): Invoice[] {
  const parent = requireParent(state);
  const usageTotals: BillableUsageTotal[] = [];
  for (const [subAccountId, meters] of usage.onTime) {
    for (const [meter, credits] of meters) usageTotals.push({ subAccountId, meter, credits });
  }
  const late = lateUsageInput(state, usage.late);
  return buildInvoices({
    parent: { parentId: parent.id, currency: parent.currency },
    period,
    terms: periodTerms(state, period),
    pastTerms: late.pastTerms,
    usage: late.usage,
    usageTotals,
    usageCredits: usage.reversals ?? [],
    issuedAt: issuedAt.toISOString(),
    nextSequence: state.invoicesIssued + 1,
  });
}

/**
 * Every invoice of `period` from the usage the state holds for it: what a close issues, and the
 * draft (which shows no number) of an open period.
 */
export function invoicesOfOpenPeriod(state: LedgerState, period: BillingPeriod, issuedAt: Date): Invoice[] {
  return invoicesOf(
    state,
    period,
    state.billableUsage.get(period) ?? { onTime: new Map(), late: [], reversals: [] },
    issuedAt,
  );
}

/*
 * A close whose invoices do not fit one append (docs/billing.md, "A close bigger than one append").
 * Its invoices are written first, in chunks, to `ledgerinvoices-<parentId>`; one BillingPeriodClosed
 * in the ledger stream then commits exactly the chunks it names, with their digests. Everything here
 * is a pure function of the invoices, so the decider recomputes the same events and digests from the
 * same state and can tell whether what was written is what it would issue.
 */

export const INVOICE_STREAM_CATEGORY = 'ledgerinvoices';

export function invoiceStreamName(parentId: string): string {
  return `${INVOICE_STREAM_CATEGORY}-${parentId}`;
}

/**
 * Data bytes one append of a close may carry. The store refuses an append over 1,048,576 bytes
 * (EventStoreDB's MaxAppendSize, counting data only up to 24.10 and data + metadata from 25.0), so
 * each event is also charged METADATA_ALLOWANCE_BYTES for its metadata envelope.
 */
export const MAX_CLOSE_APPEND_BYTES = 900 * 1024;
export const METADATA_ALLOWANCE_BYTES = 512;
/** Past this, an invoice is written as InvoicePartIssued parts of about this size each. */
export const MAX_INVOICE_EVENT_BYTES = 256 * 1024;

/** One event of `ledgerinvoices-<parentId>` with its JSON, as stored. */
export type InvoiceRecord = {
  readonly event: InvoiceStreamEvent;
  readonly json: string;
  readonly bytes: number;
};

/** The events of one append to `ledgerinvoices-<parentId>`. */
export type InvoiceChunk = {
  readonly records: readonly InvoiceRecord[];
  readonly firstInvoiceId: string;
  readonly lastInvoiceId: string;
  readonly digest: string;
};

/** What a close issues: its invoices, and whether they fit in the closing's own append. */
export type ClosePlan = {
  readonly invoices: readonly Invoice[];
  /** Data bytes of the InvoiceIssued events the closing would carry inline. */
  readonly inlineBytes: number;
  readonly fitsOneAppend: boolean;
};

/** Data bytes of `{period, closedAt}`, counted generously. */
const CLOSING_EVENT_ALLOWANCE_BYTES = 256;

export function closePlanOf(invoices: readonly Invoice[]): ClosePlan {
  let inlineBytes = CLOSING_EVENT_ALLOWANCE_BYTES + METADATA_ALLOWANCE_BYTES;
  for (const invoice of invoices) inlineBytes += jsonBytes(invoice) + METADATA_ALLOWANCE_BYTES;
  return { invoices, inlineBytes, fitsOneAppend: inlineBytes <= MAX_CLOSE_APPEND_BYTES };
}

/**
 * The events of `ledgerinvoices-<parentId>` for `invoices`, in order: an InvoiceIssued per invoice,
 * or InvoicePartIssued parts for one over MAX_INVOICE_EVENT_BYTES, split between its sections.
 * A section is never split: one larger than an event is refused (`close_too_large`).
 */
export function invoiceRecordsOf(invoices: readonly Invoice[]): InvoiceRecord[] {
  const records: InvoiceRecord[] = [];
  for (const invoice of invoices) {
    const whole = record({ type: 'InvoiceIssued', data: invoice });
    if (whole.bytes <= MAX_INVOICE_EVENT_BYTES) {
      records.push(whole);
      continue;
    }
    const groups: Invoice['sections'][] = [];
    let group: Invoice['sections'][number][] = [];
    let groupBytes = jsonBytes({ ...invoice, sections: [] }) + 128;
    for (const section of invoice.sections) {
      const bytes = jsonBytes(section) + 1;
      if (bytes + 256 > MAX_INVOICE_EVENT_BYTES) {
        throw new DomainError(
          'close_too_large',
          `the section of sub-account ${section.subAccountId} on invoice ${invoice.invoiceId} is ${bytes} bytes, ` +
            `more than one event may hold (${MAX_INVOICE_EVENT_BYTES})`,
        );
      }
      if (group.length > 0 && groupBytes + bytes > MAX_INVOICE_EVENT_BYTES) {
        groups.push(group);
        group = [];
        groupBytes = 256;
      }
      group.push(section);
      groupBytes += bytes;
    }
    groups.push(group);
    const parts = groups.length;
    groups.forEach((sections, index) => {
      const common = { invoiceId: invoice.invoiceId, period: invoice.period, part: index + 1, parts };
      records.push(
        record({
          type: 'InvoicePartIssued',
          data: index === 0 ? { ...common, invoice: { ...invoice, sections } } : { ...common, sections },
        }),
      );
    });
  }
  return records;
}

/** Records cut into appends of at most MAX_CLOSE_APPEND_BYTES (data plus metadata allowance). */
export function invoiceChunksOf(records: readonly InvoiceRecord[]): InvoiceChunk[] {
  const chunks: InvoiceChunk[] = [];
  let current: InvoiceRecord[] = [];
  let bytes = 0;
  const flush = () => {
    if (current.length === 0) return;
    chunks.push({
      records: current,
      firstInvoiceId: invoiceIdOf(current[0].event),
      lastInvoiceId: invoiceIdOf(current[current.length - 1].event),
      digest: digestOf(current.map((entry) => entry.event.type + '\n' + entry.json)),
    });
    current = [];
    bytes = 0;
  };
  for (const entry of records) {
    const size = entry.bytes + METADATA_ALLOWANCE_BYTES;
    if (bytes + size > MAX_CLOSE_APPEND_BYTES) flush();
    current.push(entry);
    bytes += size;
  }
  flush();
  return chunks;
}

/** The digest a closing carries over its chunks: SHA-256 of their digests, one a line, in order. */
export function commitDigestOf(chunkDigests: readonly string[]): string {
  return digestOf(chunkDigests);
}

/** The digest of one chunk as read back: each event's type, a newline, its data's JSON. */
export function chunkDigestOf(events: readonly { type: string; data: unknown }[]): string {
  return digestOf(events.map((event) => event.type + '\n' + JSON.stringify(event.data)));
}

/**
 * The invoices of a committed close from its events, in order, parts put back together. Throws on
 * parts out of order or missing: the digests were checked first, so that means a bug.
 */
export function invoicesFromRecords(events: readonly InvoiceStreamEvent[]): Invoice[] {
  const invoices: Invoice[] = [];
  let open: {
    invoice: Invoice;
    sections: Invoice['sections'][number][];
    next: number;
    parts: number;
  } | null = null;
  for (const event of events) {
    if (event.type === 'InvoiceIssued') {
      if (open) throw new Error(`invoice ${open.invoice.invoiceId} misses parts ${open.next}..${open.parts}`);
      invoices.push(event.data);
      continue;
    }
    const { invoiceId, part, parts } = event.data;
    if (part === 1) {
      if (open || !event.data.invoice) throw new Error(`invoice ${invoiceId}: unexpected part 1`);
      open = { invoice: event.data.invoice, sections: [...event.data.invoice.sections], next: 2, parts };
    } else {
      if (!open || open.invoice.invoiceId !== invoiceId || open.next !== part || !event.data.sections) {
        throw new Error(`invoice ${invoiceId}: part ${part} out of order`);
      }
      for (const section of event.data.sections) open.sections.push(section);
      open.next++;
    }
    if (open.next > open.parts) {
      invoices.push({ ...open.invoice, sections: open.sections });
      open = null;
    }
  }
  if (open) throw new Error(`invoice ${open.invoice.invoiceId} misses parts ${open.next}..${open.parts}`);
  return invoices;
}

function record(event: InvoiceStreamEvent): InvoiceRecord {
  const json = JSON.stringify(event.data);
  return { event, json, bytes: Buffer.byteLength(json) };
}

function invoiceIdOf(event: InvoiceStreamEvent): string {
  return event.data.invoiceId;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

function digestOf(lines: readonly string[]): string {
  const hash = createHash('sha256');
  for (const line of lines) hash.update(line).update('\n');
  return `sha256:${hash.digest('hex')}`;
}
