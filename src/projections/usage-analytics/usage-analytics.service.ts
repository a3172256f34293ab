import type { Database } from '../../database/database';
import type { ProjectionReadOptions } from '../projection';
import type { ReadModelProgress } from '../read-model-progress';
import { USAGE_DAILY_TABLE, usageAnalyticsProjection } from './usage-analytics.projection';
import {
  usageReportJson,
  usageReportJsonQuery,
  usageReportQuery,
  usageReportView,
  type UsageReportJsonRow,
  type UsageReportQuery,
  type UsageReportView,
} from './usage-report';

/** Usage reports from the daily usage table, grouped by PostgreSQL, once the read model has caught up. */
export class UsageAnalyticsService {
  /** Per parent, the sub-account id in the middle of its last large report by sub-account. */
  private readonly middles = new Map<string, string>();
  private cutting = 0;

  constructor(
    private readonly runner: ReadModelProgress,
    private readonly database: Database,
    private readonly options: ProjectionReadOptions,
    /** From how many bytes of groups a report by sub-account is cut in two next time (tests cut small ones). */
    private readonly cutFromBytes = CUT_REPORT_FROM_BYTES,
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

  /**
   * The same report as its JSON body, written by PostgreSQL: what the JSON route sends as it is.
   *
   * A large report by sub-account is cut in two at a sub-account id and both parts are queried side by
   * side on one snapshot, so that PostgreSQL writes them on two cores (decision 73): where to cut is the
   * middle of the parent's previous large report, kept here. Any cut gives the same report; a stale one
   * only balances the parts less well. One cut report at a time, so two of them can never hold a
   * connection each while both wait for a second.
   */
  async usageJson(parentId: string, query: UsageReportQuery): Promise<string> {
    await this.runner.readable(usageAnalyticsProjection.name, this.options.readTimeoutMs);
    const bySubAccount = query.groupBy[0] === 'subAccount' && query.subAccountId === undefined;
    const cutAt = bySubAccount && this.cutting === 0 ? this.middles.get(parentId) : undefined;
    let parts: UsageReportJsonRow[];
    if (cutAt === undefined) {
      const sql = usageReportJsonQuery(USAGE_DAILY_TABLE, parentId, query);
      const { rows } = await this.database.pool.query<UsageReportJsonRow>(sql.text, sql.values);
      parts = rows;
    } else {
      this.cutting++;
      try {
        const answers = await this.database.readOnOneSnapshot<UsageReportJsonRow>([
          usageReportJsonQuery(USAGE_DAILY_TABLE, parentId, query, { below: cutAt }),
          usageReportJsonQuery(USAGE_DAILY_TABLE, parentId, query, { from: cutAt }),
        ]);
        parts = answers.map((rows) => rows[0]);
      } finally {
        this.cutting--;
      }
    }
    if (bySubAccount) this.remember(parentId, parts);
    return usageReportJson(query, parts);
  }

  private remember(parentId: string, parts: readonly UsageReportJsonRow[]): void {
    const bytes = parts.reduce((sum, part) => sum + part.groups.length, 0);
    if (bytes < this.cutFromBytes) {
      this.middles.delete(parentId);
      return;
    }
    const middle = middleSubAccount(parts, bytes / 2);
    if (middle === undefined) return;
    this.middles.delete(parentId);
    this.middles.set(parentId, middle);
    // The parents asked most recently, a bounded few.
    if (this.middles.size > MAX_REMEMBERED_PARENTS) this.middles.delete(this.middles.keys().next().value!);
  }
}

/** A report whose groups take this many bytes of JSON (~15,000 sub-accounts) is cut in two next time. */
const CUT_REPORT_FROM_BYTES = 1_000_000;
const MAX_REMEMBERED_PARENTS = 1_000;
const GROUP_START = '{"key":"';

/**
 * The sub-account id of the first group at or after `offset` bytes into the parts' groups taken as one
 * (or of the last group, when none starts after it). A group's key starts with its sub-account id when
 * the report is grouped by sub-account first, and ids hold neither `,` nor `"`.
 */
function middleSubAccount(parts: readonly UsageReportJsonRow[], offset: number): string | undefined {
  let rest = offset;
  for (const part of parts) {
    if (rest < part.groups.length) {
      let start = part.groups.indexOf(GROUP_START, Math.floor(rest));
      if (start < 0) start = part.groups.lastIndexOf(GROUP_START);
      if (start < 0) return undefined;
      const from = start + GROUP_START.length;
      const end = part.groups.slice(from, from + 200).search(/[",]/);
      return end <= 0 ? undefined : part.groups.slice(from, from + end);
    }
    rest -= part.groups.length;
  }
  return undefined;
}
