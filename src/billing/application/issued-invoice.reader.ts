import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Invoice } from '../../invoicing';
import { ledgerStreamName, type PeriodClosing } from '../../ledger/domain';

/**
 * Issued invoices stay in the log only: the ledger state keeps, per closed period, the revision
 * of its BillingPeriodClosed and the ids of the InvoiceIssued events that follow it in the same
 * append, so an invoice is one read by revision away, however long the stream has grown.
 */
export async function readIssuedInvoices(
  client: EventStoreDBClient,
  parentId: string,
  closing: PeriodClosing,
  only?: readonly string[],
): Promise<Invoice[]> {
  const wanted = only ?? closing.invoiceIds;
  const positions = wanted
    .map((invoiceId) => closing.invoiceIds.indexOf(invoiceId))
    .filter((index) => index >= 0)
    .sort((a, b) => a - b);
  if (positions.length === 0) return [];
  const first = positions[0];
  const count = positions[positions.length - 1] - first + 1;
  const found = new Map<string, Invoice>();
  for await (const resolved of client.readStream(ledgerStreamName(parentId), {
    fromRevision: BigInt(closing.revision + 1 + first),
    maxCount: count,
  })) {
    const event = resolved.event;
    if (event?.type !== 'InvoiceIssued') continue;
    const invoice = event.data as unknown as Invoice;
    found.set(invoice.invoiceId, invoice);
  }
  return positions.map((index) => {
    const invoice = found.get(closing.invoiceIds[index]);
    // The state was folded from these very events; a miss means the stream was tampered with.
    if (!invoice)
      throw new Error(`InvoiceIssued ${closing.invoiceIds[index]} missing from the ledger stream`);
    return invoice;
  });
}
