import fc from 'fast-check';
import {
  comparePeriods,
  hasEnded,
  isBillingPeriod,
  isInstant,
  isWithinPeriod,
  nextPeriod,
  parseBillingPeriod,
  periodBounds,
  periodOf,
  previousPeriod,
  toInstant,
} from './period';
import { BillingValidationError } from './billing-validation.error';

describe('billing periods', () => {
  it.each([
    ['2026-11-15T10:00:00Z', '2026-11'],
    ['2026-11-01T00:00:00.000Z', '2026-11'],
    ['2026-10-31T23:59:59.999Z', '2026-10'],
    ['2026-10-31T23:30:00-02:00', '2026-11'], // 01:30 UTC on November 1st
    ['2026-11-01T00:30:00+01:00', '2026-10'], // 23:30 UTC on October 31st
    ['2026-12-31T23:59:59.999999999Z', '2026-12'],
    ['2027-01-01T00:00:00Z', '2027-01'],
    ['2024-02-29T12:00:00Z', '2024-02'],
  ])('periodOf(%s) is %s', (instant, period) => {
    expect(isInstant(instant)).toBe(true);
    expect(periodOf(instant)).toBe(period);
    expect(periodOf(new Date(instant))).toBe(period);
  });

  it.each([
    '2026-11-01',
    '2026-11-01T00:00:00',
    '2026-11-01 00:00:00Z',
    '2026-11-01T00:00Z', // RFC 3339 requires the seconds
    '2026-11-01t00:00:00z',
    '1900-02-29T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T23:60:00Z',
    '2026-01-01T23:00:60Z',
    'yesterday',
    '',
  ])('refuses the instant %p', (instant) => {
    expect(isInstant(instant)).toBe(false);
    expect(() => toInstant(instant)).toThrow(BillingValidationError);
    expect(() => periodOf(instant)).toThrow(BillingValidationError);
  });

  it('refuses an invalid Date and instants before 1970', () => {
    expect(() => periodOf(new Date(Number.NaN))).toThrow(BillingValidationError);
    expect(() => periodOf('1969-12-31T23:59:59Z')).toThrow(BillingValidationError);
  });

  it.each([
    '2026-13',
    '2026-00',
    '26-01',
    '2026-1',
    '2026-01-01',
    ' 2026-01',
    '2026-01 ',
    '1969-12',
    '0000-01',
    '10000-01',
    '2026/01',
    202601,
  ])('refuses the period %p', (period) => {
    expect(isBillingPeriod(period)).toBe(false);
    expect(() => parseBillingPeriod(period)).toThrow(BillingValidationError);
    expect(() => nextPeriod(period as string)).toThrow(BillingValidationError);
  });

  it('steps across year ends both ways', () => {
    expect(nextPeriod('2026-12')).toBe('2027-01');
    expect(nextPeriod('2026-01')).toBe('2026-02');
    expect(previousPeriod('2027-01')).toBe('2026-12');
    expect(previousPeriod('2026-10')).toBe('2026-09');
    expect(() => previousPeriod('1970-01')).toThrow(BillingValidationError);
  });

  it('gives half-open UTC bounds, leap years included', () => {
    expect(periodBounds('2024-02')).toEqual({
      start: new Date('2024-02-01T00:00:00Z'),
      end: new Date('2024-03-01T00:00:00Z'),
    });
    expect(periodBounds('2026-12')).toEqual({
      start: new Date('2026-12-01T00:00:00Z'),
      end: new Date('2027-01-01T00:00:00Z'),
    });
    expect(isWithinPeriod('2026-12-01T00:00:00Z', '2026-12')).toBe(true);
    expect(isWithinPeriod('2027-01-01T00:00:00Z', '2026-12')).toBe(false);
  });

  it('has ended exactly at the first instant of the next month', () => {
    expect(hasEnded('2026-10', '2026-10-31T23:59:59.999Z')).toBe(false);
    expect(hasEnded('2026-10', '2026-11-01T00:00:00Z')).toBe(true);
    expect(hasEnded('2026-10', new Date('2026-11-01T00:00:00.001Z'))).toBe(true);
    expect(hasEnded('2026-11', '2026-10-31T23:30:00-02:00')).toBe(false);
  });

  it('orders periods chronologically', () => {
    expect(comparePeriods('2026-09', '2026-10')).toBe(-1);
    expect(comparePeriods('2027-01', '2026-12')).toBe(1);
    expect(comparePeriods('2026-10', '2026-10')).toBe(0);
  });

  it('puts every instant inside the bounds of its own period', () => {
    const instants = fc.date({
      min: new Date('1970-01-01T00:00:00Z'),
      max: new Date('9999-11-30T23:59:59.999Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(instants, (instant) => {
        const period = periodOf(instant);
        const { start, end } = periodBounds(period);
        expect(start.getTime()).toBeLessThanOrEqual(instant.getTime());
        expect(instant.getTime()).toBeLessThan(end.getTime());
        expect(periodBounds(nextPeriod(period)).start).toEqual(end);
        expect(previousPeriod(nextPeriod(period))).toBe(period);
        expect(hasEnded(period, end)).toBe(true);
        expect(hasEnded(period, instant)).toBe(false);
      }),
    );
  });
});
