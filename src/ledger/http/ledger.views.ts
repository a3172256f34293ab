import type { Principal } from '../../auth/principal';
import { periodOf } from '../../shared/billing-period';
import { listSubAccounts, subAccountView, termsFor, type LedgerState, type SubAccountView } from '../domain';

export type SubAccountResponse = SubAccountView & { creditPrice?: string };

/**
 * A sub-account as the principal may see it: with the price per credit it pays this period, except
 * for its own key while it is billed to its parent (SPEC §4: such a sub-account never sees prices).
 */
export function subAccountResponse(
  state: LedgerState,
  subAccountId: string,
  now: Date,
  principal: Principal,
): SubAccountResponse {
  const view = subAccountView(state, subAccountId, now);
  if (principal.role === 'sub-account' && view.billingModel === 'bill-to-parent') return view;
  return { ...view, creditPrice: termsFor(state, subAccountId, periodOf(now)).creditPrice };
}

export function subAccountPage(
  state: LedgerState,
  now: Date,
  principal: Principal,
  query: { cursor?: string; limit?: number },
): { items: SubAccountResponse[]; nextCursor: string | null } {
  const page = listSubAccounts(state, now, query);
  return {
    items: page.items.map((item) => subAccountResponse(state, item.id, now, principal)),
    nextCursor: page.nextCursor,
  };
}
