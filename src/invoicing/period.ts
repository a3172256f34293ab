import { BillingValidationError } from './billing-validation.error';

/**
 * A billing period is a calendar month in UTC named `YYYY-MM`. Because the name is fixed-width,
 * ordinary string order is chronological order.
 */
export type BillingPeriod = string;

const PERIOD_PATTERN = /^([0-9]{4})-(0[1-9]|1[0-2])$/;
// An instant needs an explicit zone: a zoneless timestamp would land in a different month
// depending on the server's TZ, and billing must not depend on where it runs.
const INSTANT_PATTERN =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?(?:Z|[+-]([0-9]{2}):([0-9]{2}))$/;
const FIRST_YEAR = 1970;

/** True for a well-formed `YYYY-MM` from 1970-01 on. */
export function isBillingPeriod(value: unknown): value is BillingPeriod {
  if (typeof value !== 'string') return false;
  const match = PERIOD_PATTERN.exec(value);
  return match !== null && Number(match[1]) >= FIRST_YEAR;
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
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
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

/**
 * Reads an instant given as a Date or an ISO 8601 string with a zone (`Z` or `±hh:mm`).
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
  if (year < FIRST_YEAR || year > 9999) {
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
