import { text, toCsv, type CsvCell } from '../../http/csv';
import type { DraftInvoice, IssuedInvoice } from '../application/invoice-views';

type AnyInvoice = IssuedInvoice | DraftInvoice;

export const INVOICE_CSV_HEADER = [
  'invoiceId',
  'number',
  'status',
  'period',
  'currency',
  'billToType',
  'billToId',
  'subAccountId',
  'subAccountName',
  'kind',
  'meter',
  'originalPeriod',
  'unitPrice',
  'credits',
  'amount',
  'invoiceTotal',
] as const;

/**
 * Invoices as CSV: one row per line (`kind` usage, late with its original period, or credit: a
 * reversal of usage of an issued invoice, its amount negative). A section
 * with no line (an idle sub-account: it is covered, its usage was nil) gets one row of kind `none`
 * with 0 credits and a zero amount, and an invoice with no section at all one row of kind `none`
 * too, so every invoice and every covered sub-account the JSON shows is in the export
 * (docs/billing.md, "Idle sub-accounts"). Amounts are decimal strings in major units.
 */
export function invoicesCsv(invoices: readonly AnyInvoice[]): string {
  const rows: CsvCell[][] = [];
  for (const invoice of invoices) {
    const head: CsvCell[] = [
      text(invoice.invoiceId),
      text(invoice.number),
      invoice.status,
      invoice.period,
      invoice.currency,
      invoice.billTo.type,
      text(invoice.billTo.id),
    ];
    if (invoice.sections.length === 0) {
      rows.push([...head, '', '', 'none', '', '', '', 0, invoice.total, invoice.total]);
      continue;
    }
    for (const section of invoice.sections) {
      const who = [text(section.subAccountId), text(section.name)];
      const credits = section.creditLines ?? [];
      if (section.lines.length === 0 && section.lateLines.length === 0 && credits.length === 0) {
        rows.push([...head, ...who, 'none', '', '', '', 0, section.subtotal, invoice.total]);
      }
      for (const line of section.lines) {
        rows.push([
          ...head,
          ...who,
          'usage',
          text(line.meter),
          '',
          line.unitPrice,
          line.credits,
          line.amount,
          invoice.total,
        ]);
      }
      const corrections = [
        ...section.lateLines.map((line) => ['late', line] as const),
        ...credits.map((line) => ['credit', line] as const),
      ];
      for (const [kind, line] of corrections) {
        rows.push([
          ...head,
          ...who,
          kind,
          text(line.meter),
          line.originalPeriod,
          line.unitPrice,
          line.credits,
          line.amount,
          invoice.total,
        ]);
      }
    }
  }
  return toCsv(INVOICE_CSV_HEADER, rows);
}
