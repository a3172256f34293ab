import { BillingValidationError } from './billing-validation.error';

/**
 * A billing period is a calendar month in UTC named `YYYY-MM`, from 1970-01 on. Because the name is
 * fixed-width, ordinary string order is chronological order. This is the one definition of a period
 * and of an instant: the ledger dates and bills usage with it, billing closes and replays with it,
 * and the HTTP DTOs check their fields with it.
 */
export type BillingPeriod = string;

/** `YYYY-MM` from 1970-01 to 9999-12: the whole rule, so a DTO can state it as its OpenAPI pattern. */
export const BILLING_PERIOD_PATTERN = /^(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:0[1-9]|1[0-2])$/;
// RFC 3339: seconds required, an explicit zone (`Z` or `±hh:mm`). A zoneless timestamp would land
// in a different month depending on the server's TZ, and billing must not depend on where it runs.
const INSTANT_PATTERN =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(?:Z|[+-]([0-9]{2}):([0-9]{2}))$/;
const FIRST_YEAR = 1970;
const LAST_YEAR = 9999;

/** True for a well-formed `YYYY-MM` from 1970-01 on. */
export function isBillingPeriod(value: unknown): value is BillingPeriod {
  return typeof value === 'string' && BILLING_PERIOD_PATTERN.test(value);
}

/** Returns `value` if it is a billing period, throws otherwise. */
export function parseBillingPeriod(value: unknown): BillingPeriod {
  if (!isBillingPeriod(value)) {
    throw new BillingValidationError(`invalid billing period ${JSON.stringify(value)}: expected YYYY-MM`);
  }
  return value;
}

function hasValidFields(instant: string): boolean {
  const match = INSTANT_PATTERN.exec(instant);
  if (!match) return false;
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = match
    .slice(1)
    .map((field) => (field === undefined ? 0 : Number(field)));
  // Date.parse rolls 2026-02-30 over into March and accepts 24:00; an instant naming a day or
  // time that does not exist is a client error, not something to reinterpret.
  const daysInMonth = month === 2 ? (isLeapYear(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHour <= 23 &&
    offsetMinute <= 59
  );
}

// Not Date.UTC: it reads years 0–99 as 1900–1999, and 1900 was no leap year where 0000 was.
function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** True for an RFC 3339 instant with a zone whose date and time exist (no 2026-02-30, no 24:00). */
export function isInstant(value: unknown): value is string {
  return typeof value === 'string' && hasValidFields(value) && !Number.isNaN(Date.parse(value));
}

/**
 * Reads an instant given as a Date or an RFC 3339 string with a zone (`Z` or `±hh:mm`).
 * Throws on anything else rather than guessing.
 */
export function toInstant(instant: Date | string): Date {
  const date = typeof instant === 'string' ? (hasValidFields(instant) ? new Date(instant) : null) : instant;
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new BillingValidationError(
      `invalid instant ${JSON.stringify(instant)}: expected ISO 8601 with a zone`,
    );
  }
  return date;
}

/** The period an instant falls in, in UTC: 2026-10-31T23:30:00-02:00 is in 2026-11. */
export function periodOf(instant: Date | string): BillingPeriod {
  const date = toInstant(instant);
  const year = date.getUTCFullYear();
  if (year < FIRST_YEAR || year > LAST_YEAR) {
    throw new BillingValidationError(`instant ${date.toISOString()} is outside the billable years`);
  }
  return `${String(year).padStart(4, '0')}-${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
}

function yearAndMonth(period: BillingPeriod): { year: number; month: number } {
  parseBillingPeriod(period);
  return { year: Number(period.slice(0, 4)), month: Number(period.slice(5, 7)) };
}

function periodFromMonthIndex(index: number): BillingPeriod {
  const year = Math.floor(index / 12);
  return parseBillingPeriod(`${String(year).padStart(4, '0')}-${String((index % 12) + 1).padStart(2, '0')}`);
}

/** The month after `period`: 2026-12 → 2027-01. */
export function nextPeriod(period: BillingPeriod): BillingPeriod {
  const { year, month } = yearAndMonth(period);
  return periodFromMonthIndex(year * 12 + month);
}

/** The month before `period`: 2027-01 → 2026-12. */
export function previousPeriod(period: BillingPeriod): BillingPeriod {
  const { year, month } = yearAndMonth(period);
  return periodFromMonthIndex(year * 12 + month - 2);
}

/** Chronological order of two periods: negative, zero or positive. */
export function comparePeriods(a: BillingPeriod, b: BillingPeriod): number {
  parseBillingPeriod(a);
  parseBillingPeriod(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The half-open interval [start, end) of instants in `period`, in UTC. */
export function periodBounds(period: BillingPeriod): { start: Date; end: Date } {
  const { year, month } = yearAndMonth(period);
  return { start: new Date(Date.UTC(year, month - 1, 1)), end: new Date(Date.UTC(year, month, 1)) };
}

/** True when `instant` lies in `period` (start inclusive, end exclusive). */
export function isWithinPeriod(instant: Date | string, period: BillingPeriod): boolean {
  const time = toInstant(instant).getTime();
  const { start, end } = periodBounds(period);
  return time >= start.getTime() && time < end.getTime();
}

/** True once `now` has reached the end of `period`, i.e. the period can be closed. */
export function hasEnded(period: BillingPeriod, now: Date | string): boolean {
  return toInstant(now).getTime() >= periodBounds(period).end.getTime();
}
