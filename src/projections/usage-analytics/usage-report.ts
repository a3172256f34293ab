import { ProjectionQueryError } from '../projection.errors';
import type { ParentUsage } from './usage-analytics.projection';

const DAY_MS = 86_400_000;

/** What usage can be totalled by; several combine (`groupBy=subAccount,meter`). */
export const USAGE_DIMENSIONS = ['subAccount', 'meter', 'day', 'month'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

export interface UsageReportQuery {
  /** Inclusive UTC midnight; all time when absent. */
  readonly from?: Date;
  /** Exclusive UTC midnight. */
  readonly to?: Date;
  /** One to four distinct dimensions, in the order the caller gave them. */
  readonly groupBy: readonly UsageDimension[];
  /** Only this sub-account's usage. */
  readonly subAccountId?: string;
}

/** One bucket: the value of each grouped dimension, and its totals. */
export interface UsageReportGroup {
  /** The grouped values joined with `,` in `groupBy` order (ids and meters never hold a comma). */
  readonly key: string;
  readonly subAccountId?: string;
  readonly meter?: string;
  /** `YYYY-MM-DD`, UTC day of occurredAt. */
  readonly day?: string;
  /** `YYYY-MM`, UTC month of occurredAt. */
  readonly month?: string;
  readonly credits: number;
  readonly records: number;
}

export interface UsageReportView {
  readonly groupBy: UsageDimension[];
  readonly from: string | null;
  readonly to: string | null;
  readonly subAccountId: string | null;
  /** Sorted by the grouped values, in `groupBy` order. */
  readonly groups: UsageReportGroup[];
  readonly total: { readonly credits: number; readonly records: number };
}

/**
 * Totals of the usage-analytics read model's (sub-account, meter, UTC day) buckets over any
 * combination of dimensions. Months are unions of days, so any whole-day range can be grouped by
 * month (a range that cuts a month totals the days inside it).
 */
export function usageReport(parent: ParentUsage | undefined, query: UsageReportQuery): UsageReportView {
  const fromDay = query.from === undefined ? -Infinity : dayOf('from', query.from);
  const toDay = query.to === undefined ? Infinity : dayOf('to', query.to);
  if (fromDay > toDay) throw new ProjectionQueryError('from must not be after to');
  const onlySub =
    query.subAccountId === undefined ? undefined : parent?.subAccountIndex.get(query.subAccountId);
  const groups = new Map<string, { values: string[]; credits: number; records: number }>();
  let credits = 0;
  let records = 0;
  const buckets =
    parent === undefined || (query.subAccountId !== undefined && onlySub === undefined)
      ? 0
      : parent.bucketCredits.length;
  for (let i = 0; i < buckets; i++) {
    const p = parent!;
    const day = p.bucketDay[i];
    if (day < fromDay || day >= toDay) continue;
    if (onlySub !== undefined && p.bucketSubAccount[i] !== onlySub) continue;
    const values = query.groupBy.map((dimension) => {
      switch (dimension) {
        case 'subAccount':
          return p.subAccounts[p.bucketSubAccount[i]];
        case 'meter':
          return p.meters[p.bucketMeter[i]];
        case 'day':
          return isoDay(day);
        case 'month':
          return isoDay(day).slice(0, 7);
      }
    });
    const key = values.join(',');
    let group = groups.get(key);
    if (!group) {
      group = { values, credits: 0, records: 0 };
      groups.set(key, group);
    }
    group.credits += p.bucketCredits[i];
    group.records += p.bucketRecords[i];
    credits += p.bucketCredits[i];
    records += p.bucketRecords[i];
  }
  return {
    groupBy: [...query.groupBy],
    from: query.from?.toISOString() ?? null,
    to: query.to?.toISOString() ?? null,
    subAccountId: query.subAccountId ?? null,
    groups: [...groups.entries()]
      .sort(([, a], [, b]) => compareValues(a.values, b.values))
      .map(([key, group]) => ({
        key,
        ...Object.fromEntries(query.groupBy.map((dimension, n) => [fieldOf(dimension), group.values[n]])),
        credits: group.credits,
        records: group.records,
      })),
    total: { credits, records },
  };
}

export function fieldOf(dimension: UsageDimension): 'subAccountId' | 'meter' | 'day' | 'month' {
  return dimension === 'subAccount' ? 'subAccountId' : dimension;
}

function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let n = 0; n < a.length; n++) {
    if (a[n] !== b[n]) return a[n] < b[n] ? -1 : 1;
  }
  return 0;
}

function isoDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function dayOf(field: string, instant: Date): number {
  const ms = instant.getTime();
  if (Number.isNaN(ms) || ms % DAY_MS !== 0) {
    throw new ProjectionQueryError(
      `${field} must be a UTC midnight such as 2026-10-01T00:00:00Z (usage is kept per UTC day)`,
    );
  }
  return ms / DAY_MS;
}
