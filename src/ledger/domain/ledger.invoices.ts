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
import { termsFor } from './ledger.queries';
import { requireParent, type LedgerState, type LateUsage } from './ledger.state';

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
    state.billableUsage.get(period) ?? { onTime: new Map(), late: [] },
    issuedAt,
  );
}
