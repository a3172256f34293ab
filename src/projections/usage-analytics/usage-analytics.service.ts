import type { Database } from '../../database/database';
import type { ProjectionReadOptions } from '../projection';
import type { ReadModelProgress } from '../read-model-progress';
import { USAGE_DAILY_TABLE, usageAnalyticsProjection } from './usage-analytics.projection';
import { copyOut, CopyBuffers } from '../../database/copy-rows';
import {
  copiedReport,
  type CopiedReport,
  usageReportBody,
  usageReportCopy,
  usageReportRowsSelect,
  usageReportQuery,
  usageReportView,
  type ReportBody,
  type SubAccountRange,
  type UsageReportQuery,
  type UsageReportView,
} from './usage-report';

/** Usage reports from the daily usage table, grouped by PostgreSQL, once the read model has caught up. */
export class UsageAnalyticsService {
  /** Per parent, the sub-account id in the middle of its last large report by sub-account. */
  private readonly middles = new Map<string, string>();
  private cutting = 0;
  /** Where reports are copied into, kept from one report to the next (decision 75). */
  private readonly buffers = new CopyBuffers(KEPT_REPORT_BYTES);

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
   * The same report as its JSON body: its rows fetched with COPY and written as JSON into buffers the
   * JSON route sends as they are (decisions 75 and 86).
   *
   * A large report by sub-account is cut in two at a sub-account id and both parts are copied side by
   * side on one snapshot, so that PostgreSQL writes them on two cores (decision 73): where to cut is the
   * middle of the parent's previous large report, kept here. Any cut gives the same report; a stale one
   * only balances the parts less well. One cut report at a time, so two of them can never hold a
   * connection each while both wait for a second.
   */
  async usageJson(parentId: string, query: UsageReportQuery): Promise<SentReportBody> {
    await this.runner.readable(usageAnalyticsProjection.name, this.options.readTimeoutMs);
    const bySubAccount = query.groupBy[0] === 'subAccount' && query.subAccountId === undefined;
    const cutAt = bySubAccount && this.cutting === 0 ? this.middles.get(parentId) : undefined;
    const copy = (part?: SubAccountRange) =>
      usageReportCopy(usageReportRowsSelect(USAGE_DAILY_TABLE, parentId, query, part));
    // Each part's rows are turned into JSON as soon as they are in, while the other part's still come.
    const json = (rows: Buffer): CopiedReport => {
      const part = copiedReport(rows, query.groupBy, this.buffers);
      this.buffers.give(rows);
      return part;
    };
    let parts: CopiedReport[];
    if (cutAt === undefined) {
      parts = [json(await this.database.copyOut(copy(), this.buffers))];
    } else {
      this.cutting++;
      try {
        parts = await this.database.onOneSnapshot(2, ([low, high]) =>
          Promise.all([
            copyOut(low, copy({ below: cutAt }), this.buffers).then(json),
            copyOut(high, copy({ from: cutAt }), this.buffers).then(json),
          ]),
        );
      } finally {
        this.cutting--;
      }
    }
    if (bySubAccount) this.remember(parentId, parts);
    return {
      ...usageReportBody(query, parts),
      sent: () => parts.forEach((part) => this.buffers.give(part.groups)),
    };
  }

  private remember(parentId: string, parts: readonly CopiedReport[]): void {
    const groups = parts.map((part) => part.groups);
    const bytes = groups.reduce((sum, chunk) => sum + chunk.length, 0);
    if (bytes < this.cutFromBytes) {
      this.middles.delete(parentId);
      return;
    }
    const middle = subAccountAt(groups, Math.floor(bytes / 2));
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
/** Memory kept for copying reports into: a 100,000-sub-account report takes ~13 MB of it (rows and JSON). */
const KEPT_REPORT_BYTES = 24 * 1024 * 1024;

/** A report's JSON body, and what to call once it has been sent (its memory is then reused). */
export interface SentReportBody extends ReportBody {
  sent(): void;
}
const GROUP_START = Buffer.from('{"key":"');
/** Longer than any sub-account id (kernel/ids.ts) and the group's start. */
const KEY_WINDOW = 512;
/** Longer than any group: where the search for the next group's start looks. */
const WINDOW = 2 * KEY_WINDOW;

/**
 * The sub-account id of the first group at or after `offset` bytes into the groups' buffers taken as
 * one (none when no group starts there). A group's key starts with its sub-account id
 * when the report is grouped by sub-account first, and ids hold neither `,` nor `"`.
 */
export function subAccountAt(groups: readonly Buffer[], offset: number): string | undefined {
  let rest = offset;
  for (let n = 0; n < groups.length; n++) {
    if (rest >= groups[n].length) {
      rest -= groups[n].length;
      continue;
    }
    // A kilobyte from the offset, on into the next buffers: a group (a few hundred bytes at most) starts
    // within it, and may go on in the next buffer.
    const pieces = [groups[n].subarray(rest, rest + WINDOW)];
    let length = pieces[0].length;
    for (let next = n + 1; next < groups.length && length < WINDOW; next++) {
      pieces.push(groups[next].subarray(0, WINDOW - length));
      length += pieces[pieces.length - 1].length;
    }
    const window = Buffer.concat(pieces);
    const start = window.indexOf(GROUP_START);
    if (start < 0) return undefined;
    const key = window
      .subarray(start + GROUP_START.length, start + GROUP_START.length + KEY_WINDOW)
      .toString('latin1');
    const end = key.search(/[",]/);
    return end <= 0 ? undefined : key.slice(0, end);
  }
  return undefined;
}
