import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { ForbiddenError } from '../../auth/auth.errors';
import type { RequestContext } from '../../auth/request-context';
import { EVENT_STORE_CLIENT } from '../../event-store/event-store-client.provider';
import { SubledgerError } from '../../kernel/subledger-error';
import { CloseBillingPeriodCommand } from '../../ledger/application/commands';
import { LedgerService } from '../../ledger/application/ledger.service';
import {
  billingPeriods,
  DomainError,
  invoicesOfOpenPeriod,
  isDomainError,
  requireParent,
  requireSubAccount,
  termsFor,
  type BillingPeriodView,
  type LedgerState,
  type PeriodClosing,
} from '../../ledger/domain';
import { isBillingPeriod, periodOf, subAccountInvoiceId, type Invoice } from '../../invoicing';
import { draft, issued, periodOfInvoiceId, type DraftInvoice, type IssuedInvoice } from './invoice-views';
import { mayHoldInvoice, readIssuedInvoices } from './issued-invoice.reader';
import { replayPeriod, type ReplayReport } from './period-replay';

export type ClosedPeriod = {
  readonly period: string;
  readonly status: 'closed';
  readonly closedAt: string;
  /** False when the period was already closed: nothing was recorded, these are the same invoices. */
  readonly closedNow: boolean;
  readonly invoices: IssuedInvoice[];
};

export type PeriodListing = BillingPeriodView & {
  readonly closedAt: string | null;
  readonly invoices: number;
};

export type InvoiceListing = {
  readonly period: string | null;
  readonly invoices: IssuedInvoice[];
  /** What closing the open period would issue now; null when the period asked for is closed. */
  readonly draft: { readonly period: string; readonly invoices: DraftInvoice[] } | null;
};

/**
 * Billing over the ledger: closing runs CloseBillingPeriod through the ledger's own command
 * processor (one decision with the usage, docs/billing.md), every read is a read of the parent's
 * state in the same queue, and issued invoices are read back from the log by revision.
 */
@Injectable()
export class BillingService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly commands: CommandBus,
    @Inject(EVENT_STORE_CLIENT) private readonly client: EventStoreDBClient,
  ) {}

  async close(context: RequestContext, parentId: string, period: string): Promise<ClosedPeriod> {
    requirePeriod(period);
    let closedNow = true;
    try {
      await this.commands.execute(new CloseBillingPeriodCommand(context, parentId, { period }));
    } catch (error) {
      // "Repeating it changes nothing": the same invoices, nothing appended.
      if (!(isDomainError(error) && error.code === 'period_already_closed')) throw error;
      closedNow = false;
    }
    const { result: closing } = await this.ledger.read(context, parentId, (state) =>
      closingOf(state, period),
    );
    const invoices = await readIssuedInvoices(this.client, parentId, closing);
    return {
      period,
      status: 'closed',
      closedAt: closing.closedAt,
      closedNow,
      invoices: invoices.map(issued),
    };
  }

  async periods(context: RequestContext, parentId: string): Promise<PeriodListing[]> {
    const { result } = await this.read(context, parentId, (state, now) =>
      billingPeriods(state, now).map((view) => {
        const closing = state.closings.get(view.period);
        return { ...view, closedAt: closing?.closedAt ?? null, invoices: invoiceCount(closing) };
      }),
    );
    return result;
  }

  async invoices(
    context: RequestContext,
    parentId: string,
    period: string | undefined,
  ): Promise<InvoiceListing> {
    if (period !== undefined) requirePeriod(period);
    const { result } = await this.read(context, parentId, (state, now) => {
      const current = periodOf(now);
      const closings = period === undefined ? [...state.closings.values()] : [state.closings.get(period)];
      const draftPeriod = period ?? current;
      const openAndStarted =
        !state.closedPeriods.has(draftPeriod) &&
        draftPeriod <= current &&
        draftPeriod >= periodOf(new Date(requireParent(state).openedAt));
      return {
        closings: closings.filter((closing): closing is PeriodClosing => closing !== undefined),
        draft: openAndStarted
          ? { period: draftPeriod, invoices: invoicesOfOpenPeriod(state, draftPeriod, now) }
          : null,
      };
    });
    const issuedInvoices = await this.readAll(parentId, result.closings);
    return {
      period: period ?? null,
      invoices: issuedInvoices.map(issued),
      draft: result.draft && { period: result.draft.period, invoices: result.draft.invoices.map(draft) },
    };
  }

  /** One issued invoice; a sub-account key sees only its own, and only while it pays its own bills. */
  async invoice(context: RequestContext, parentId: string, invoiceId: string): Promise<IssuedInvoice> {
    const period = periodOfInvoiceId(parentId, invoiceId);
    const notFound = new SubledgerError('not_found', 'not_found', `invoice ${invoiceId} not found`);
    if (period === null) throw notFound;
    const principal = context.principal;
    if (
      principal.role === 'sub-account' &&
      invoiceId !== subAccountInvoiceId(parentId, period, principal.subAccountId)
    ) {
      throw notFound;
    }
    const { result: closing } = await this.read(context, parentId, (state, now) => {
      if (principal.role === 'sub-account') requireBillsItself(state, principal.subAccountId, now);
      const found = state.closings.get(period);
      return found && mayHold(found, invoiceId) ? found : null;
    });
    if (!closing) throw notFound;
    const [invoice] = await readIssuedInvoices(this.client, parentId, closing, [invoiceId]);
    if (!invoice) throw notFound;
    return issued(invoice);
  }

  /** The invoices billed to one sub-account, and its draft of the current period if it has one. */
  async subAccountInvoices(
    context: RequestContext,
    parentId: string,
    subAccountId: string,
  ): Promise<{ subAccountId: string; invoices: IssuedInvoice[]; draft: DraftInvoice | null }> {
    const { result } = await this.read(context, parentId, (state, now) => {
      requireSubAccount(state, subAccountId);
      if (context.principal.role === 'sub-account') requireBillsItself(state, subAccountId, now);
      const wanted: { closing: PeriodClosing; invoiceId: string }[] = [];
      for (const closing of state.closings.values()) {
        const invoiceId = subAccountInvoiceId(parentId, closing.period, subAccountId);
        if (mayHold(closing, invoiceId)) wanted.push({ closing, invoiceId });
      }
      const current = periodOf(now);
      const draftInvoice = state.closedPeriods.has(current)
        ? undefined
        : invoicesOfOpenPeriod(state, current, now).find(
            (invoice) => invoice.invoiceId === subAccountInvoiceId(parentId, current, subAccountId),
          );
      return { wanted, draftInvoice };
    });
    const invoices: Invoice[] = [];
    for (const { closing, invoiceId } of result.wanted) {
      invoices.push(...(await readIssuedInvoices(this.client, parentId, closing, [invoiceId])));
    }
    invoices.sort((a, b) => a.sequence - b.sequence);
    return {
      subAccountId,
      invoices: invoices.map(issued),
      draft: result.draftInvoice ? draft(result.draftInvoice) : null,
    };
  }

  /**
   * A closed period: its issued invoices against a recomputation from the log. The open period:
   * the live draft against a recomputation from the log up to the state it was drafted from.
   */
  async replay(context: RequestContext, parentId: string, period: string): Promise<ReplayReport> {
    requirePeriod(period);
    const { result } = await this.read(context, parentId, (state, now) => {
      const parent = requireParent(state);
      if (period < periodOf(new Date(parent.openedAt)) || period > periodOf(now)) {
        throw new DomainError('not_found', `period ${period} is not a period of parent ${parentId}`);
      }
      const closing = state.closings.get(period);
      // A committed close's invoices are in their own stream: its closing is its last event here.
      if (closing) return { now, lastRevision: closing.revision + closing.invoiceIds.length };
      return {
        now,
        draft: { invoices: invoicesOfOpenPeriod(state, period, now), revision: state.lastRevision },
      };
    });
    return replayPeriod(this.client, parentId, period, result);
  }

  private async read<Result>(
    context: RequestContext,
    parentId: string,
    read: (state: LedgerState, now: Date) => Result,
  ): Promise<{ result: Result }> {
    const now = this.ledger.now();
    return this.ledger.read(context, parentId, (state) => {
      requireParent(state);
      return read(state, now);
    });
  }

  private async readAll(parentId: string, closings: readonly PeriodClosing[]): Promise<Invoice[]> {
    const invoices: Invoice[] = [];
    for (const closing of [...closings].sort((a, b) => a.revision - b.revision)) {
      // One by one: a big close has ~100,000 invoices, more than a spread may pass as arguments.
      for (const invoice of await readIssuedInvoices(this.client, parentId, closing)) invoices.push(invoice);
    }
    return invoices;
  }
}

function invoiceCount(closing: PeriodClosing | undefined): number {
  if (!closing) return 0;
  return closing.invoices ? closing.invoices.count : closing.invoiceIds.length;
}

/** Whether the closing issued `invoiceId` (a committed one: may have, by its chunks' id ranges). */
function mayHold(closing: PeriodClosing, invoiceId: string): boolean {
  return closing.invoices
    ? mayHoldInvoice(closing.invoices, invoiceId)
    : closing.invoiceIds.includes(invoiceId);
}

function closingOf(state: LedgerState, period: string): PeriodClosing {
  const closing = state.closings.get(period);
  if (!closing) throw new Error(`period ${period} was closed but the state has no closing for it`);
  return closing;
}

function requirePeriod(period: string): void {
  if (!isBillingPeriod(period)) {
    throw new SubledgerError('validation_failed', 'invalid', 'period must be YYYY-MM');
  }
}

/** SPEC §2 visibility: a bill-to-parent sub-account never sees prices or invoices. */
function requireBillsItself(state: LedgerState, subAccountId: string, now: Date): void {
  if (termsFor(state, subAccountId, periodOf(now)).billingModel !== 'bill-to-sub-account') {
    throw new ForbiddenError('This sub-account is billed to its parent: it has no invoices of its own.');
  }
}
