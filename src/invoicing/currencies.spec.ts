import { activeCurrencies, isCurrency, minorUnitExponent } from './currencies';
import { BillingValidationError } from './billing-validation.error';

describe('currencies', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['ISK', 0],
    ['XOF', 0],
    ['BHD', 3],
    ['IQD', 3],
    ['JOD', 3],
    ['KWD', 3],
    ['LYD', 3],
    ['OMR', 3],
    ['TND', 3],
    ['CLF', 4],
    ['UYW', 4],
    ['XCG', 2],
    ['ZWG', 2],
  ])('%s is active with exponent %i', (code, exponent) => {
    expect(isCurrency(code)).toBe(true);
    expect(minorUnitExponent(code)).toBe(exponent);
  });

  it.each(['HRK', 'ANG', 'ZWL', 'SLL', 'BGN'])(
    '%s is withdrawn: refused for new parents, still priced',
    (code) => {
      expect(isCurrency(code)).toBe(false);
      expect(minorUnitExponent(code)).toBe(2);
    },
  );

  it.each(['XAU', 'XDR', 'XXX', 'XTS', 'usd', 'US', 'USDX', '', 'toString', '__proto__'])(
    '%p is no currency',
    (code) => {
      expect(isCurrency(code)).toBe(false);
      expect(() => minorUnitExponent(code)).toThrow(BillingValidationError);
    },
  );

  it('lists every active code once, upper case, in order', () => {
    const codes = activeCurrencies();
    expect(codes).toHaveLength(165);
    expect(new Set(codes).size).toBe(codes.length);
    expect([...codes].sort()).toEqual(codes);
    for (const code of codes) expect(code).toMatch(/^[A-Z]{3}$/);
  });
});
