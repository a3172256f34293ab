import { START, StreamNotFoundError, type EventStoreDBClient } from '@eventstore/db-client';
import { compareInvoices, type Invoice, type InvoiceDifference } from '../../invoicing';
import {
  DomainError,
  evolve,
  initialLedgerState,
  invoicesOf,
  invoicesOfOpenPeriod,
  ledgerStreamName,
  requireParent,
  subtractBillableUsage,
  type CreditReversal,
  type InvoiceCommit,
  type LateUsage,
  type LedgerEvent,
} from '../../ledger/domain';
import { readCommittedInvoices } from './issued-invoice.reader';

export type ReplayReport = {
  readonly parentId: string;
  readonly period: string;
  /** `closed`: issued invoices against the log; `open`: the live draft against the log. */
  readonly status: 'closed' | 'open';
  readonly matches: boolean;
  readonly issued: readonly Invoice[];
  readonly recomputed: readonly Invoice[];
  readonly differences: readonly InvoiceDifference[];
  /** The last revision of `ledger-<parentId>` the recomputation read. */
  readonly throughRevision: number;
};

export type ReplayOptions = {
  /** Issue time of an open period's draft and of its recomputation. */
  readonly now: Date;
  /**
   * For an open period: the draft to check and the revision of the state it was drafted from;
   * without it the draft is taken from the same fold.
   */
  readonly draft?: { readonly invoices: readonly Invoice[]; readonly revision: number };
  /** The last revision worth reading (a closed period's last invoice), when the caller knows it. */
  readonly lastRevision?: number;
};

/**
 * Recomputes one period of one parent from the event log alone and compares it with what was
 * issued. Usage is summed here from the UsageRecorded events themselves, not taken from the
 * ledger's running totals, so the check covers the decider's bookkeeping too; terms, names and
 * numbering come from a fresh fold of the same events up to the close.
 */
export async function replayPeriod(
  client: EventStoreDBClient,
  parentId: string,
  period: string,
  options: ReplayOptions,
): Promise<ReplayReport> {
  const state = initialLedgerState();
  const onTime = new Map<string, Map<string, bigint>>();
  const late: LateUsage[] = [];
  const reversals: CreditReversal[] = [];
  let recomputed: Invoice[] | null = null;
  const issued: Invoice[] = [];
  const stopAt = options.draft?.revision;
  const lastRevision = stopAt ?? options.lastRevision;
  let revision = -1;
  let done = false;
  let committed: InvoiceCommit | null = null;
  try {
    // Read to the end (or to a known last revision), never broken off: a read left half-consumed
    // keeps its gRPC call open, and the client then cannot be disposed at shutdown.
    for await (const resolved of client.readStream(ledgerStreamName(parentId), {
      fromRevision: START,
      ...(lastRevision === undefined ? {} : { maxCount: BigInt(lastRevision + 1) }),
    })) {
      const recorded = resolved.event;
      if (!recorded || done) continue;
      const event = { type: recorded.type, data: recorded.data } as unknown as LedgerEvent;
      if (recomputed) {
        // The close's invoices follow it in its own append; the first other event ends the period.
        if (event.type !== 'InvoiceIssued' || event.data.period !== period) {
          done = true;
          continue;
        }
        issued.push(event.data);
      } else if (event.type === 'BillingPeriodClosed' && event.data.period === period) {
        recomputed = invoicesOf(state, period, { onTime, late, reversals }, new Date(event.data.closedAt));
        // A close too big for one append: its invoices are the chunks it committed, nothing after it.
        if (event.data.invoices) {
          committed = event.data.invoices;
          done = true;
        }
      } else if (event.type === 'UsageRecorded' && event.data.billingPeriod === period) {
        const { subAccountId, usageId, meter, credits, occurredAt } = event.data;
        if (event.data.late) late.push({ subAccountId, usageId, meter, credits, occurredAt });
        else addTotal(onTime, subAccountId, meter, credits);
      } else if (event.type === 'UsageReversed') {
        // Net of reversals while the usage's period was open; credited on a later one after it closed.
        const { creditLine } = event.data;
        if (creditLine === null && event.data.originalPeriod === period) {
          subtractBillableUsage({ onTime, late }, event.data);
        } else if (creditLine !== null && creditLine.period === period) {
          const { subAccountId, usageId, meter, credits, originalPeriod } = event.data;
          reversals.push({
            subAccountId,
            usageId,
            meter,
            credits,
            unitPrice: creditLine.unitPrice,
            originalPeriod,
            originalInvoiceId: creditLine.originalInvoiceId,
          });
        }
      }
      evolve(state, event);
      revision = Number(recorded.revision);
      if (!recomputed && stopAt !== undefined && revision >= stopAt) done = true;
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  requireParent(state);
  if (committed) for (const invoice of await readCommittedInvoices(client, committed)) issued.push(invoice);
  if (recomputed) {
    const { matches, differences } = compareInvoices(issued, recomputed);
    return {
      parentId,
      period,
      status: 'closed',
      matches,
      issued,
      recomputed,
      differences,
      throughRevision: revision,
    };
  }
  if (stopAt !== undefined && revision !== stopAt) {
    throw new DomainError('not_found', `the ledger of ${parentId} does not reach revision ${stopAt}`);
  }
  const draft = options.draft?.invoices ?? invoicesOfOpenPeriod(state, period, options.now);
  const again = invoicesOf(state, period, { onTime, late, reversals }, options.now);
  const { matches, differences } = compareInvoices(draft, again);
  return {
    parentId,
    period,
    status: 'open',
    matches,
    issued: draft,
    recomputed: again,
    differences,
    throughRevision: revision,
  };
}

function addTotal(
  totals: Map<string, Map<string, bigint>>,
  subAccountId: string,
  meter: string,
  credits: number,
) {
  let meters = totals.get(subAccountId);
  if (!meters) {
    meters = new Map();
    totals.set(subAccountId, meters);
  }
  meters.set(meter, (meters.get(meter) ?? 0n) + BigInt(credits));
}
