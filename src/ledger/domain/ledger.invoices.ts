import {
  buildInvoices,
  type BillableUsage,
  type BillableUsageTotal,
  type Invoice,
  type PastPeriodTerms,
  type SubAccountTerms,
} from '../../billing/domain/invoice';
import { periodEnd, periodOf, periodStart, type BillingPeriod } from '../../shared/billing-period';
import { termsFor } from './ledger.queries';
import { requireParent, type LedgerState, type LateUsage } from './ledger.state';

/*
 * The ledger's side of billing: what docs/money-and-invoices.md asks the adapter to supply,
 * read from the state of one `ledger-<parentId>` stream. Closing a period and the live draft use
 * these same functions, so a draft is exactly what a close would issue at that instant.
 */

/**
 * The terms of `period` for every sub-account that had any in it: created before the period
 * ended and not closed before it began. A sub-account created mid-period has its creation terms
 * for the whole period (rule 7: the terms it started the period with).
 */
export function periodTerms(state: LedgerState, period: BillingPeriod): SubAccountTerms[] {
  const start = periodStart(period).getTime();
  const end = periodEnd(period).getTime();
  const terms: SubAccountTerms[] = [];
  for (const subAccount of state.subAccounts.values()) {
    if (Date.parse(subAccount.createdAt) >= end) continue;
    if (subAccount.closedAt !== null && Date.parse(subAccount.closedAt) < start) continue;
    const { billingModel, creditPrice } = termsFor(state, subAccount.id, period);
    terms.push({ subAccountId: subAccount.id, name: subAccount.name, billingModel, creditPrice });
  }
  return terms;
}

/** Late records priced and routed with the terms of the period each one occurred in (rule 8). */
export function lateUsageInput(
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

/**
 * Every invoice of `period` from the usage the state holds for it. `nextSequence` defaults to
 * the one a close would take now; a draft passes the same and shows no number.
 */
export function invoicesOfOpenPeriod(
  state: LedgerState,
  period: BillingPeriod,
  issuedAt: Date,
  nextSequence: number = state.invoicesIssued + 1,
): Invoice[] {
  const parent = requireParent(state);
  const billable = state.billableUsage.get(period);
  const usageTotals: BillableUsageTotal[] = [];
  for (const [subAccountId, meters] of billable?.onTime ?? []) {
    for (const [meter, credits] of meters) usageTotals.push({ subAccountId, meter, credits });
  }
  const late = lateUsageInput(state, billable?.late ?? []);
  return buildInvoices({
    parent: { parentId: parent.id, currency: parent.currency },
    period,
    terms: periodTerms(state, period),
    pastTerms: late.pastTerms,
    usage: late.usage,
    usageTotals,
    issuedAt: issuedAt.toISOString(),
    nextSequence,
  });
}
