import { createPricedSub, openPricedParent, use } from '../billing/billing-helpers';
import type { OpenedParent } from '../../support/ledger-fixtures';
import { startTestService, type TestService, type TestServiceOptions } from '../../support/service';

export {
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  type OpenedParent,
} from '../../support/ledger-fixtures';
export { startTestService, type TestService } from '../../support/service';

/*
 * Set-up shared by the read-side contract tests (CSV exports, usage analytics): a service at a fixed
 * clock, one parent priced at 0.001 EUR a credit, its sub-accounts, and their usage, all through
 * real HTTP.
 */

/** A sub-account: id, billing model, and its own price (set by the operator) if any. */
export type PricedSub = readonly [
  id: string,
  billingModel: 'bill-to-parent' | 'bill-to-sub-account',
  creditPrice?: string,
];

/** One usage record: sub-account, credits, meter, and when it occurred (default: the clock's now). */
export type UsageRecord = readonly [
  subAccountId: string,
  credits: number,
  meter: string,
  occurredAt?: string,
];

export async function startPricedLedger(
  options: TestServiceOptions,
  parentId: string,
  subs: readonly PricedSub[],
  usage: readonly UsageRecord[],
): Promise<{ service: TestService; parent: OpenedParent }> {
  const service = await startTestService(options);
  const parent = await openPricedParent(service, parentId, 'EUR', '0.001');
  for (const [id, billingModel, creditPrice] of subs) {
    await createPricedSub(service, parent, id, billingModel, creditPrice);
  }
  for (const [subAccountId, credits, meter, occurredAt] of usage) {
    await use(service, parent, subAccountId, credits, meter, occurredAt);
  }
  return { service, parent };
}
