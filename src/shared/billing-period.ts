/**
 * Billing periods are calendar months in UTC named `YYYY-MM` (SPEC §1). The names sort
 * lexicographically in time order, which the ledger relies on for term histories.
 */
export type BillingPeriod = string;

const PERIOD_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isBillingPeriod(value: unknown): value is BillingPeriod {
  return typeof value === 'string' && PERIOD_PATTERN.test(value);
}

export function periodOf(instant: Date): BillingPeriod {
  const month = instant.getUTCMonth() + 1;
  return `${String(instant.getUTCFullYear()).padStart(4, '0')}-${month < 10 ? '0' : ''}${month}`;
}

export function periodStart(period: BillingPeriod): Date {
  const [year, month] = parse(period);
  return utcMonthStart(year, month - 1);
}

/** The first instant that no longer belongs to the period (periods are half-open). */
export function periodEnd(period: BillingPeriod): Date {
  const [year, month] = parse(period);
  return utcMonthStart(year, month);
}

export function nextPeriod(period: BillingPeriod): BillingPeriod {
  return periodOf(periodEnd(period));
}

// Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
function utcMonthStart(year: number, monthIndex: number): Date {
  const instant = new Date(0);
  instant.setUTCFullYear(year, monthIndex, 1);
  return instant;
}

function parse(period: BillingPeriod): [number, number] {
  const match = PERIOD_PATTERN.exec(period);
  if (!match) throw new RangeError(`not a billing period: ${period}`);
  return [Number(match[1]), Number(match[2])];
}
