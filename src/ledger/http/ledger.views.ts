import type { Principal } from '../../auth/principal';
import { nextPeriod, periodOf, type BillingPeriod } from '../../invoicing';
import {
  listSubAccounts,
  samePrice,
  subAccountView,
  termsFor,
  type LedgerState,
  type SubAccountView,
} from '../domain';

export type SubAccountResponse = SubAccountView & {
  creditPrice?: string;
  /** The price it pays from the next period, when that differs (its own or the parent's). */
  pendingCreditPrice?: string;
  /** The period pending terms apply from, present with `pendingBillingModel` or `pendingCreditPrice`. */
  pendingEffectiveFrom?: BillingPeriod;
};

/**
 * A sub-account as the principal may see it: with the price per credit it pays this period and the one
 * it will pay from the next (SPEC §4: pending terms are shown), except for its own key while it is
 * billed to its parent (such a sub-account never sees prices).
 */
export function subAccountResponse(
  state: LedgerState,
  subAccountId: string,
  now: Date,
  principal: Principal,
): SubAccountResponse {
  const view = subAccountView(state, subAccountId, now);
  const current = periodOf(now);
  const next = nextPeriod(current);
  const showsPrices = !(principal.role === 'sub-account' && view.billingModel === 'bill-to-parent');
  const creditPrice = showsPrices ? termsFor(state, subAccountId, current).creditPrice : undefined;
  const nextPrice = showsPrices ? termsFor(state, subAccountId, next).creditPrice : undefined;
  const pendingCreditPrice =
    creditPrice !== undefined && nextPrice !== undefined && !samePrice(creditPrice, nextPrice)
      ? nextPrice
      : undefined;
  const pending = view.pendingBillingModel !== undefined || pendingCreditPrice !== undefined;
  return {
    ...view,
    ...(creditPrice === undefined ? {} : { creditPrice }),
    ...(pendingCreditPrice === undefined ? {} : { pendingCreditPrice }),
    ...(pending ? { pendingEffectiveFrom: next } : {}),
  };
}

export function subAccountPage(
  state: LedgerState,
  now: Date,
  principal: Principal,
  query: { cursor?: string; limit?: number; idPrefix?: string },
): { items: SubAccountResponse[]; nextCursor: string | null } {
  const page = listSubAccounts(state, now, query);
  return {
    items: page.items.map((item) => subAccountResponse(state, item.id, now, principal)),
    nextCursor: page.nextCursor,
  };
}
