import { escapeLiteral } from 'pg';
import type { CopyBuffers } from '../../database/copy-rows';
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
      `SELECT ${grouped} AS values, sum_bigint(credits)::text AS credits, sum_bigint(records)::text AS records ` +
      `FROM ${table} WHERE ${where}` +
      (columns.length === 0 ? '' : ` GROUP BY ${columns.join(', ')}`) +
      ' HAVING count(*) > 0',
    values,
  };
}

/**
 * The same report's groups as rows for `COPY … TO STDOUT`: the grouped values (in `groupBy` order),
 * then the group's credits and records, ordered by byte (`COLLATE "C"`), which is JavaScript's string
 * order for the ASCII that ids, meters, days and months are made of. `copiedReport` turns the copied
 * text into the groups' JSON.
 *
 * PostgreSQL used to write the JSON itself (decision 66): for a parent with 100,000 sub-accounts, the
 * concatenations cost ~145 of its ~200 ms, while the rows cost it ~100 ms to copy and the service
 * ~25 ms to write as the same JSON (decision 86). The totals are summed as bigints (`sum_bigint`,
 * migration 1765001700000): `sum` would make each of them a numeric (decision 89).
 *
 * The values are written into the statement (quoted by `pg`'s `escapeLiteral`), because `COPY (…)
 * TO STDOUT` takes no parameters: the answer arrives as the bytes PostgreSQL wrote, never as a
 * JavaScript string (decision 75).
 */
export function usageReportRowsSelect(
  table: string,
  parentId: string,
  query: UsageReportQuery,
  part?: SubAccountRange,
): string {
  const where = reportFilter(parentId, query, part ?? {}, escapeLiteral);
  const columns = query.groupBy.map((dimension, n) => `${COLUMN[dimension]} AS g${n}`);
  const grouped = query.groupBy.map((_, n) => `g${n}`);
  const order = grouped.length === 0 ? '' : ` ORDER BY ${grouped.map((g) => `${g} COLLATE "C"`).join(', ')}`;
  return (
    `SELECT ${[...grouped, 'credits', 'records'].join(', ')} ` +
    `FROM (SELECT ${[...columns, 'sum_bigint(credits) AS credits', 'sum_bigint(records) AS records'].join(', ')} ` +
    `FROM ${table} WHERE ${where}` +
    (columns.length === 0 ? '' : ` GROUP BY ${columns.map((_, n) => n + 1).join(', ')}`) +
    ` HAVING count(*) > 0) AS grouped${order}`
  );
}

/** `usageReportRowsSelect` (or any SELECT) run as `COPY … TO STDOUT`, in its text format. */
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

/** One report (or part) as JSON: its groups, and its totals. */
export interface CopiedReport {
  /** The groups' JSON objects joined with `,` (no brackets). */
  readonly groups: Buffer;
  readonly credits: number;
  readonly records: number;
}

/**
 * The groups' JSON from the COPY text of `usageReportRowsSelect`'s rows, in the shape and order
 * `usageReportView` gives them: `{"key":"<values joined with ,>","<field>":"<value>",…,"credits":c,
 * "records":r}`, written byte by byte into a buffer taken from `buffers` (or a new one), with no string
 * made of the rows. Ids (kernel/ids.ts), meters (ledger.validation.ts) and to_char's days and months
 * are made of letters, digits and `_ . : / -`, none of which JSON or COPY's text format escapes, so a
 * value goes between quotes as it came; a row that is not `groupBy.length` values, credits and records,
 * or a value holding `"` or `\`, is refused. The totals are summed here, exactly up to 2^53.
 */
export function copiedReport(
  copied: Buffer,
  groupBy: readonly UsageDimension[],
  buffers?: CopyBuffers,
): CopiedReport {
  const width = groupBy.length + 2;
  const fields = groupBy.map((dimension) => Buffer.from(`","${fieldOf(dimension)}":"`));
  // The most a group can take: each value twice (the key and its field), and the fixed text.
  const fixed = GROUP_FIXED + fields.reduce((sum, field) => sum + field.length, 0);
  // A kept buffer is most often large enough already; otherwise it grows as the groups are written.
  let out = buffers?.take() ?? EMPTY;
  const starts = new Int32Array(width);
  const ends = new Int32Array(width);
  let o = 0;
  let at = 0;
  let credits = 0;
  let records = 0;
  const length = copied.length;
  while (at < length) {
    for (let f = 0; f < width; f++) {
      starts[f] = at;
      let byte = -1;
      for (; at < length; at++) {
        byte = copied[at];
        if (byte === TAB || byte === LF) break;
        if (byte === QUOTE || byte === BACKSLASH) throw rowsRefused(copied, starts[f]);
      }
      if (byte !== (f === width - 1 ? LF : TAB) || at === starts[f]) throw rowsRefused(copied, starts[f]);
      ends[f] = at++;
    }
    const needed = o + 2 * (at - starts[0]) + fixed;
    if (needed > out.length) out = larger(out, o, needed, buffers);
    if (o > 0) out[o++] = COMMA;
    o = put(out, o, KEY_OPEN, 0, KEY_OPEN.length);
    for (let f = 0; f < width - 2; f++) {
      if (f > 0) out[o++] = COMMA;
      o = put(out, o, copied, starts[f], ends[f]);
    }
    for (let f = 0; f < width - 2; f++) {
      o = put(out, o, fields[f], 0, fields[f].length);
      o = put(out, o, copied, starts[f], ends[f]);
    }
    o = put(out, o, CREDITS, 0, CREDITS.length);
    o = put(out, o, copied, starts[width - 2], ends[width - 2]);
    o = put(out, o, RECORDS, 0, RECORDS.length);
    o = put(out, o, copied, starts[width - 1], ends[width - 1]);
    out[o++] = CLOSE;
    credits += integerAt(copied, starts[width - 2], ends[width - 2]);
    records += integerAt(copied, starts[width - 1], ends[width - 1]);
  }
  return { groups: out.subarray(0, o), credits, records };
}

/** A buffer of at least `needed` bytes holding the first `used` of `out`: from `buffers` when given. */
function larger(out: Buffer, used: number, needed: number, buffers?: CopyBuffers): Buffer {
  if (buffers !== undefined) return buffers.larger(out, used, needed);
  const next = Buffer.allocUnsafe(Math.ceil(needed * 1.5));
  out.copy(next, 0, 0, used);
  return next;
}

/** Copies `from[start, end)` to `to` at `o` byte by byte (a few dozen bytes: cheaper than a native copy). */
function put(to: Buffer, o: number, from: Buffer, start: number, end: number): number {
  for (let n = start; n < end; n++) to[o++] = from[n];
  return o;
}

function integerAt(text: Buffer, start: number, end: number): number {
  const negative = text[start] === MINUS;
  let value = 0;
  for (let n = negative ? start + 1 : start; n < end; n++) {
    const digit = text[n] - ZERO;
    if (digit < 0 || digit > 9) throw rowsRefused(text, start);
    value = value * 10 + digit;
  }
  if (end === (negative ? start + 1 : start)) throw rowsRefused(text, start);
  return negative ? -value : value;
}

function rowsRefused(copied: Buffer, at: number): Error {
  const line = copied.toString('latin1', copied.lastIndexOf(LF, at - 1) + 1, at + 40).split('\n')[0];
  return new Error(
    `the usage report's rows did not come back as values, credits and records: ${JSON.stringify(line)}`,
  );
}

const TAB = 0x09;
const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const ZERO = 0x30;
const COMMA = 0x2c;
const CLOSE = 0x7d;
const KEY_OPEN = Buffer.from('{"key":"');
const CREDITS = Buffer.from('","credits":');
const RECORDS = Buffer.from(',"records":');
/** The bytes of a group that are neither values nor field names, and the comma before it. */
const GROUP_FIXED = KEY_OPEN.length + CREDITS.length + RECORDS.length + 2;
const EMPTY = Buffer.alloc(0);
const COMMA_BUFFER = Buffer.from(',');

/** A JSON body as buffers to send one after another, and its length in bytes. */
export interface ReportBody {
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
}

/**
 * The JSON body of a report from its groups and totals, or from its parts' in sub-account order:
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
    credits += part.credits;
    records += part.records;
    if (part.groups.length === 0) continue;
    if (!empty) chunks.push(COMMA_BUFFER);
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
