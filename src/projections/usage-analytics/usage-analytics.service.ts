import type { ProjectionReadOptions } from '../projection';
import type { ProjectionRunner } from '../projection-runner';
import { usageAnalyticsProjection, type UsageAnalyticsState } from './usage-analytics.projection';
import { usageReport, type UsageReportQuery, type UsageReportView } from './usage-report';

/** Usage reports from the usage-analytics read model, once it has caught up. */
export class UsageAnalyticsService {
  constructor(
    private readonly runner: ProjectionRunner,
    private readonly options: ProjectionReadOptions,
  ) {}

  /** A parent with no usage yet gets an empty report; whether the parent exists is the caller's check. */
  async usage(parentId: string, query: UsageReportQuery): Promise<UsageReportView> {
    const state = await this.runner.read<UsageAnalyticsState>(
      usageAnalyticsProjection.name,
      this.options.readTimeoutMs,
    );
    return usageReport(state.get(parentId), query);
  }
}
