import { creditEntriesProjection } from './credit-entries.projection';
import { creditScheduleProjection } from './credit-schedule/credit-schedule.projection';
import type { AnyProjection } from './projection';
import { usageAnalyticsProjection } from './usage-analytics/usage-analytics.projection';
import { reversibleUsageProjection } from './usage-keys/reversible-usage.projection';
import { usageKeysProjection } from './usage-keys/usage-keys.projection';

/** Every read model the runner keeps; the service and the rebuild tool both run exactly these. */
export const PROJECTIONS: readonly AnyProjection[] = [
  creditEntriesProjection,
  usageAnalyticsProjection,
  usageKeysProjection,
  reversibleUsageProjection,
  creditScheduleProjection,
];
