import { balanceAsOfProjection } from './balance-as-of/balance-as-of.projection';
import type { AnyProjection } from './projection';
import { subAccountHistoryProjection } from './history/sub-account-history.projection';
import { usageAnalyticsProjection } from './usage-analytics/usage-analytics.projection';

/** Every read model the runner keeps; the service and the rebuild tool both run exactly these. */
export const PROJECTIONS: readonly AnyProjection[] = [
  subAccountHistoryProjection,
  balanceAsOfProjection,
  usageAnalyticsProjection,
];
