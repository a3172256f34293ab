import type { Invoice } from '../../invoicing';

/** An invoice as issued by a close: read back from its InvoiceIssued event, never rebuilt. */
export type IssuedInvoice = Invoice & { readonly status: 'issued' };

/**
 * What closing the period now would issue. It consumes no number: `number` and `sequence` are
 * null until the close, and `asOf` says which instant it reflects.
 */
export type DraftInvoice = Omit<Invoice, 'number' | 'sequence' | 'issuedAt'> & {
  readonly status: 'draft';
  readonly number: null;
  readonly sequence: null;
  readonly issuedAt: null;
  readonly asOf: string;
};

export function issued(invoice: Invoice): IssuedInvoice {
  return { ...invoice, status: 'issued' };
}

export function draft(invoice: Invoice): DraftInvoice {
  return {
    ...invoice,
    status: 'draft',
    number: null,
    sequence: null,
    issuedAt: null,
    asOf: invoice.issuedAt,
  };
}

/**
 * `inv-<parentId>-<YYYY-MM>-parent` or `inv-<parentId>-<YYYY-MM>-sub-<subAccountId>` (billing
 * core's ids): the period of an invoice of this parent, or null when the id is not one.
 */
export function periodOfInvoiceId(parentId: string, invoiceId: string): string | null {
  const prefix = `inv-${parentId}-`;
  if (!invoiceId.startsWith(prefix)) return null;
  const rest = invoiceId.slice(prefix.length);
  const match = /^(\d{4}-(?:0[1-9]|1[0-2]))-(?:parent$|sub-.+)/.exec(rest);
  return match ? match[1] : null;
}
