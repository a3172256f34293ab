import { escapeLiteral } from 'pg';
import { ProjectionQueryError } from '../projection.errors';

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

/** A parameterised statement, as `pg`'s `query(text, values)` takes it. */
export interface ReportSql {
  readonly text: string;
  readonly values: unknown[];
}

/** The GROUP BY of one report: the grouped values (in `groupBy` order) and their totals per group. */
export function usageReportQuery(table: string, parentId: string, query: UsageReportQuery): ReportSql {
  const values: unknown[] = [];
  const where = reportFilter(parentId, query, {}, (value) => {
    values.push(value);
    return `$${values.length}`;
  });
  const columns = query.groupBy.map((dimension) => COLUMN[dimension]);
  const grouped = columns.length === 0 ? 'ARRAY[]::text[]' : `ARRAY[${columns.join(', ')}]`;
  return {
    text:
      `SELECT ${grouped} AS values, sum(credits)::text AS credits, sum(records)::text AS records ` +
      `FROM ${table} WHERE ${where}` +
      (columns.length === 0 ? '' : ` GROUP BY ${columns.join(', ')}`) +
      ' HAVING count(*) > 0',
    values,
  };
}

/**
 * The same report's groups written as JSON by PostgreSQL, in the order and shape `usageReportView`
 * gives them (`key`, the grouped fields in `groupBy` order, `credits`, `records`), and the totals: one
 * row of three columns (the groups joined with `,`, without the array's brackets; credits; records),
 * however many groups. A parent with 100,000 sub-accounts is one JSON text instead of 100,000 rows to
 * parse, sort and serialise again (docs/decisions.md, decision 66). Ordered by byte (`COLLATE "C"`),
 * which is JavaScript's string order for the ASCII that ids, meters, days and months are made of.
 *
 * The values are written into the statement (quoted by `pg`'s `escapeLiteral`), because it is run by
 * `COPY (…) TO STDOUT` (`usageReportCopy`), which takes no parameters: the answer arrives as the bytes
 * PostgreSQL wrote, never as a JavaScript string (decision 75).
 */
export function usageReportJsonSelect(
  table: string,
  parentId: string,
  query: UsageReportQuery,
  part?: SubAccountRange,
): string {
  const where = reportFilter(parentId, query, part ?? {}, escapeLiteral);
  const columns = query.groupBy.map((dimension, n) => ({ sql: COLUMN[dimension], as: `g${n}`, dimension }));
  // Each group is written as compact JSON text, as JSON.stringify writes it (PostgreSQL's own json
  // functions put spaces after colons and commas). A value is put between quotes as it is: ids
  // (kernel/ids.ts), meters (ledger.validation.ts, since the first ledger event) and to_char's days
  // and months are made of letters, digits and `_ . : / -`, none of which JSON escapes, nor COPY's
  // text format (which escapes only `\`, tabs and line ends). to_json, which would escape, cost ~35 of
  // ~180 ms for 100,000 groups.
  const key = columns.length === 0 ? "''::text" : columns.map((column) => column.as).join(" || ',' || ");
  const group = [
    `'{"key":"' || ${key} || '"'`,
    ...columns.map((column) => `',"${fieldOf(column.dimension)}":"' || ${column.as} || '"'`),
    `',"credits":' || credits || ',"records":' || records || '}'`,
  ].join(' || ');
  const order =
    columns.length === 0 ? '' : ` ORDER BY ${columns.map((column) => `${column.as} COLLATE "C"`).join(', ')}`;
  const selected = [
    ...columns.map((column) => `${column.sql} AS ${column.as}`),
    'sum(credits) AS credits',
    'sum(records) AS records',
  ];
  return (
    `SELECT coalesce(string_agg(${group}, ','${order}), '') AS groups, ` +
    'coalesce(sum(credits), 0)::text AS credits, coalesce(sum(records), 0)::text AS records ' +
    `FROM (SELECT ${selected.join(', ')} FROM ${table} WHERE ${where}` +
    (columns.length === 0 ? '' : ` GROUP BY ${columns.map((_, n) => n + 1).join(', ')}`) +
    ' HAVING count(*) > 0) AS grouped'
  );
}

/** `usageReportJsonSelect` (or any one-row SELECT) run as `COPY … TO STDOUT`, in its text format. */
export function usageReportCopy(select: string): string {
  return `COPY (${select}) TO STDOUT`;
}

/**
 * Sub-accounts whose id is at least `from` and below `below` (byte order; either end open): one part
 * of a report cut by sub-account id. Parts cut at the same keys, queried on one snapshot and joined in
 * key order (`usageReportBody` takes them in that order) make exactly the report of the whole.
 */
export interface SubAccountRange {
  readonly from?: string;
  readonly below?: string;
}

/** One report (or part) as COPY sent it: its groups' JSON, and its totals. */
export interface CopiedReport {
  /** The groups joined with `,` (no brackets), a view of the copied bytes. */
  readonly groups: Buffer;
  readonly credits: string;
  readonly records: string;
}

/**
 * The COPY text of `usageReportJsonSelect`'s one row (`groups<TAB>credits<TAB>records<LF>`) split
 * into its columns. The groups hold no tab (see above), so the first tab ends them; nothing is copied
 * but the few bytes of the totals.
 */
export function copiedReport(copied: Buffer): CopiedReport {
  const tab = copied.indexOf(TAB);
  const totals = tab < 0 ? null : /^(-?\d+)\t(-?\d+)\n$/.exec(copied.toString('latin1', tab + 1));
  if (totals === null) {
    throw new Error('the usage report did not come back as one row of groups, credits and records');
  }
  return { groups: copied.subarray(0, tab), credits: totals[1], records: totals[2] };
}

const TAB = 0x09;
const COMMA = Buffer.from(',');

/** A JSON body as buffers to send one after another, and its length in bytes. */
export interface ReportBody {
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
}

/**
 * The JSON body of a report from its copied row, or from the rows of its parts in sub-account order:
 * `UsageReportView`, serialised. The groups' bytes are sent as they came, between a head and a tail
 * written here.
 */
export function usageReportBody(query: UsageReportQuery, parts: readonly CopiedReport[]): ReportBody {
  const head = JSON.stringify({
    groupBy: query.groupBy,
    from: query.from?.toISOString() ?? null,
    to: query.to?.toISOString() ?? null,
    subAccountId: query.subAccountId ?? null,
  });
  let credits = 0;
  let records = 0;
  const chunks: Buffer[] = [Buffer.from(`${head.slice(0, -1)},"groups":[`)];
  let empty = true;
  for (const part of parts) {
    credits += Number(part.credits);
    records += Number(part.records);
    if (part.groups.length === 0) continue;
    if (!empty) chunks.push(COMMA);
    chunks.push(part.groups);
    empty = false;
  }
  chunks.push(Buffer.from(`],"total":${JSON.stringify({ credits, records })}}`));
  return { chunks, bytes: chunks.reduce((sum, chunk) => sum + chunk.length, 0) };
}

/**
 * The WHERE of a report: the parent, then the optional day range and sub-account (or range of them).
 * `param` puts a value into the statement: a placeholder it binds, or the value quoted.
 */
function reportFilter(
  parentId: string,
  query: UsageReportQuery,
  part: SubAccountRange,
  param: (value: string) => string,
): string {
  const fromDay = query.from === undefined ? undefined : dayOf('from', query.from);
  const toDay = query.to === undefined ? undefined : dayOf('to', query.to);
  if (fromDay !== undefined && toDay !== undefined && fromDay > toDay) {
    throw new ProjectionQueryError('from must not be after to');
  }
  const where = [`parent_id = ${param(parentId)}`];
  if (fromDay !== undefined) where.push(`day >= ${param(isoDay(fromDay))}::date`);
  if (toDay !== undefined) where.push(`day < ${param(isoDay(toDay))}::date`);
  if (query.subAccountId !== undefined) where.push(`sub_account_id = ${param(query.subAccountId)}`);
  if (part.from !== undefined) where.push(`sub_account_id >= ${param(part.from)} COLLATE "C"`);
  if (part.below !== undefined) where.push(`sub_account_id < ${param(part.below)} COLLATE "C"`);
  return where.join(' AND ');
}

const COLUMN: Record<UsageDimension, string> = {
  subAccount: 'sub_account_id',
  meter: 'meter',
  day: "to_char(day, 'YYYY-MM-DD')",
  month: "to_char(day, 'YYYY-MM')",
};

/** The report from the grouped rows, sorted by the grouped values in `groupBy` order. */
export function usageReportView(
  query: UsageReportQuery,
  rows: readonly { values: string[]; credits: string; records: string }[],
): UsageReportView {
  let credits = 0;
  let records = 0;
  const groups = rows.map((row) => {
    credits += Number(row.credits);
    records += Number(row.records);
    return { values: row.values, credits: Number(row.credits), records: Number(row.records) };
  });
  return {
    groupBy: [...query.groupBy],
    from: query.from?.toISOString() ?? null,
    to: query.to?.toISOString() ?? null,
    subAccountId: query.subAccountId ?? null,
    groups: groups
      .sort((a, b) => compareValues(a.values, b.values))
      .map((group) => ({
        key: group.values.join(','),
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
