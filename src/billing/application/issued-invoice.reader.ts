import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Invoice } from '../../invoicing';
import {
  chunkDigestOf,
  commitDigestOf,
  invoicesFromRecords,
  ledgerStreamName,
  type InvoiceCommit,
  type InvoiceStreamEvent,
  type PeriodClosing,
} from '../../ledger/domain';

/**
 * Issued invoices stay in the log only. For a close that fit one append, the ledger state keeps the
 * revision of its BillingPeriodClosed and the ids of the InvoiceIssued events that follow it in the
 * same append, so an invoice is one read by revision away, however long the stream has grown. For a
 * close too big for one append, the closing names the chunks of `ledgerinvoices-<parentId>` it
 * committed, each with its invoice-id range and digest: only those revisions are read, each chunk is
 * checked against its digest before anything of it is believed, and invoices split in parts are put
 * back together.
 */
export async function readIssuedInvoices(
  client: EventStoreDBClient,
  parentId: string,
  closing: PeriodClosing,
  only?: readonly string[],
): Promise<Invoice[]> {
  if (closing.invoices) return readCommittedInvoices(client, closing.invoices, only);
  const indexOf = new Map(closing.invoiceIds.map((invoiceId, index) => [invoiceId, index]));
  const positions =
    only === undefined
      ? closing.invoiceIds.map((_, index) => index)
      : only
          .map((invoiceId) => indexOf.get(invoiceId))
          .filter((index): index is number => index !== undefined)
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

/** Whether a committed close may hold `invoiceId` (its chunks' id ranges cover it). */
export function mayHoldInvoice(commit: InvoiceCommit, invoiceId: string): boolean {
  return commit.chunks.some((chunk) => covers(chunk, invoiceId));
}

/**
 * The invoices a closing committed, in issue order; with `only`, just those of them that exist. Every
 * chunk read is verified against its digest (and, when all are read, the closing's digest over
 * them), so orphans of an earlier attempt or a changed byte are never taken for the issued invoices.
 */
export async function readCommittedInvoices(
  client: EventStoreDBClient,
  commit: InvoiceCommit,
  only?: readonly string[],
): Promise<Invoice[]> {
  const wanted = only === undefined ? null : new Set(only);
  const needed = commit.chunks
    .map((chunk, index) => ({ chunk, index }))
    .filter(({ chunk }) => wanted === null || [...wanted].some((invoiceId) => covers(chunk, invoiceId)));
  if (needed.length === 0) return [];
  if (wanted === null && commitDigestOf(commit.chunks.map((chunk) => chunk.digest)) !== commit.digest) {
    throw new Error(`the closing's digest over its chunks in ${commit.stream} does not match them`);
  }
  const invoices: Invoice[] = [];
  // Chunks are read in runs of neighbours: an invoice split in parts may run over a chunk boundary.
  for (const run of runsOf(needed.map(({ index }) => index))) {
    const events: InvoiceStreamEvent[] = [];
    for (const index of run) events.push(...(await readChunk(client, commit, index)));
    const parts = run[0] === 0 ? events : withoutLeadingParts(events);
    for (const invoice of invoicesFromRecords(withoutTrailingParts(parts))) {
      if (wanted === null || wanted.has(invoice.invoiceId)) invoices.push(invoice);
    }
  }
  if (wanted === null && invoices.length !== commit.count) {
    throw new Error(
      `${commit.stream} holds ${invoices.length} invoices where the closing counts ${commit.count}`,
    );
  }
  return invoices;
}

async function readChunk(
  client: EventStoreDBClient,
  commit: InvoiceCommit,
  index: number,
): Promise<InvoiceStreamEvent[]> {
  const chunk = commit.chunks[index];
  const events: InvoiceStreamEvent[] = [];
  for await (const resolved of client.readStream(commit.stream, {
    fromRevision: BigInt(chunk.firstRevision),
    maxCount: chunk.lastRevision - chunk.firstRevision + 1,
  })) {
    const event = resolved.event;
    if (event) events.push({ type: event.type, data: event.data } as unknown as InvoiceStreamEvent);
  }
  if (
    events.length !== chunk.lastRevision - chunk.firstRevision + 1 ||
    chunkDigestOf(events) !== chunk.digest
  ) {
    throw new Error(
      `${commit.stream} revisions ${chunk.firstRevision}..${chunk.lastRevision} do not match the digest their closing holds`,
    );
  }
  return events;
}

function covers(chunk: InvoiceCommit['chunks'][number], invoiceId: string): boolean {
  return chunk.firstInvoiceId <= invoiceId && invoiceId <= chunk.lastInvoiceId;
}

/** Consecutive indexes grouped: [0, 1, 4] → [[0, 1], [4]]. */
function runsOf(indexes: readonly number[]): number[][] {
  const runs: number[][] = [];
  for (const index of indexes) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === index - 1) last.push(index);
    else runs.push([index]);
  }
  return runs;
}

/** A run that starts inside an invoice split in parts (its first part is in an earlier chunk). */
function withoutLeadingParts(events: InvoiceStreamEvent[]): InvoiceStreamEvent[] {
  let start = 0;
  while (start < events.length) {
    const event = events[start];
    if (event.type === 'InvoicePartIssued' && event.data.part > 1) start++;
    else break;
  }
  return events.slice(start);
}

/** A run that ends inside an invoice split in parts (its last parts are in a later chunk, not read). */
function withoutTrailingParts(events: InvoiceStreamEvent[]): InvoiceStreamEvent[] {
  let end = events.length;
  while (end > 0) {
    const event = events[end - 1];
    if (event.type !== 'InvoicePartIssued' || event.data.part === event.data.parts) break;
    // Drop back to before this invoice's first part.
    const invoiceId = event.data.invoiceId;
    while (end > 0) {
      const previous = events[end - 1];
      if (previous.type !== 'InvoicePartIssued' || previous.data.invoiceId !== invoiceId) break;
      end--;
    }
  }
  return events.slice(0, end);
}
