import type { Database } from '../../database/database';
import type { ProjectionReadOptions } from '../projection';
import type { ReadModelProgress } from '../read-model-progress';
import { USAGE_DAILY_TABLE, usageAnalyticsProjection } from './usage-analytics.projection';
import {
  usageReportJson,
  usageReportJsonQuery,
  usageReportQuery,
  usageReportView,
  type UsageReportQuery,
  type UsageReportView,
} from './usage-report';

/** Usage reports from the daily usage table, grouped by PostgreSQL, once the read model has caught up. */
export class UsageAnalyticsService {
  constructor(
    private readonly runner: ReadModelProgress,
    private readonly database: Database,
    private readonly options: ProjectionReadOptions,
  ) {}

  /** A parent with no usage yet gets an empty report; whether the parent exists is the caller's check. */
  async usage(parentId: string, query: UsageReportQuery): Promise<UsageReportView> {
    const sql = usageReportQuery(USAGE_DAILY_TABLE, parentId, query);
    await this.runner.readable(usageAnalyticsProjection.name, this.options.readTimeoutMs);
    const { rows } = await this.database.pool.query<{ values: string[]; credits: string; records: string }>(
      sql.text,
      sql.values,
    );
    return usageReportView(query, rows);
  }

  /** The same report as its JSON body, written by PostgreSQL: what the JSON route sends as it is. */
  async usageJson(parentId: string, query: UsageReportQuery): Promise<string> {
    const sql = usageReportJsonQuery(USAGE_DAILY_TABLE, parentId, query);
    await this.runner.readable(usageAnalyticsProjection.name, this.options.readTimeoutMs);
    const { rows } = await this.database.pool.query<{ groups: string; credits: string; records: string }>(
      sql.text,
      sql.values,
    );
    return usageReportJson(query, rows[0]);
  }
}
