import fc from 'fast-check';
import { activeCurrencies, minorUnitExponent } from './currencies';
import {
  compareUnitPrices,
  divideRoundHalfEven,
  formatMinor,
  fromJsonInteger,
  isUnitPrice,
  lineAmountMinor,
  parseUnitPrice,
} from './money';
import { BillingValidationError } from './billing-validation.error';

describe('lineAmountMinor', () => {
  it('prices 1,234,567 credits at 0.00099 USD as 1222.22133 → 122222 cents', () => {
    expect(lineAmountMinor(1_234_567, '0.00099', 'USD')).toBe(122222n);
  });

  it.each([
    [1, 0n], // 0.5 cent → even neighbour 0
    [3, 2n], // 1.5 cents → 2
    [5, 2n], // 2.5 cents → 2
    [7, 4n], // 3.5 cents → 4
    [9, 4n], // 4.5 cents → 4
    [2, 1n], // 1.0 cent, no rounding
  ])('rounds %i × "0.005" USD half-even to %s cents', (credits, expected) => {
    expect(lineAmountMinor(credits, '0.005', 'USD')).toBe(expected);
  });

  it('rounds just off the tie to the nearest cent, not to even', () => {
    expect(lineAmountMinor(1, '0.0050001', 'USD')).toBe(1n); // 0.50001 cent
    expect(lineAmountMinor(5, '0.00499999', 'USD')).toBe(2n); // 2.499995 cents
    expect(lineAmountMinor(5, '0.00500001', 'USD')).toBe(3n); // 2.500005 cents
  });

  it('uses exponent 0 for JPY: 3 × 0.5 = 1.5 → 2 yen, 5 × 0.5 = 2.5 → 2 yen', () => {
    expect(lineAmountMinor(3, '0.5', 'JPY')).toBe(2n);
    expect(lineAmountMinor(5, '0.5', 'JPY')).toBe(2n);
    expect(lineAmountMinor(1, '0.5', 'JPY')).toBe(0n);
    expect(lineAmountMinor(7, '0.5', 'JPY')).toBe(4n);
    expect(lineAmountMinor(1_234_567, '0.00099', 'JPY')).toBe(1222n);
  });

  it('uses exponent 3 for BHD (fils)', () => {
    expect(lineAmountMinor(1, '0.0005', 'BHD')).toBe(0n); // 0.5 fils → 0
    expect(lineAmountMinor(3, '0.0005', 'BHD')).toBe(2n); // 1.5 fils → 2
    expect(lineAmountMinor(1234, '0.0123', 'BHD')).toBe(15178n); // 15.1782 BHD
    expect(lineAmountMinor(1_234_567, '0.00099', 'BHD')).toBe(1222221n); // 1222.22133 BHD
  });

  it('uses exponent 4 for CLF', () => {
    expect(lineAmountMinor(3, '0.00005', 'CLF')).toBe(2n); // 1.5 ten-thousandths → 2
  });

  it('is exact far beyond 2^53: 10^12 credits × "999.999999" USD', () => {
    const amount = lineAmountMinor(1_000_000_000_000n, '999.999999', 'USD');
    expect(amount).toBe(99_999_999_900_000_000n);
    expect(amount > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(formatMinor(amount, 'USD')).toBe('999999999000000.00');
  });

  it('is exact at the largest price and 12 fractional digits', () => {
    expect(lineAmountMinor(1_000_000_000_000n, '999999999.999999999999', 'USD')).toBe(
      99_999_999_999_999_999_999_900n,
    );
    expect(lineAmountMinor(1, '0.000000000001', 'USD')).toBe(0n);
    expect(lineAmountMinor(5_000_000_000, '0.000000000001', 'USD')).toBe(0n); // 0.5 cent → 0
    expect(lineAmountMinor(15_000_000_000, '0.000000000001', 'USD')).toBe(2n); // 1.5 cents → 2
  });

  it('prices zero credits and a zero price at zero', () => {
    expect(lineAmountMinor(0, '12.5', 'EUR')).toBe(0n);
    expect(lineAmountMinor(100, '0', 'EUR')).toBe(0n);
    expect(lineAmountMinor(100, '0.000', 'EUR')).toBe(0n);
  });

  it('treats trailing fractional zeros as the same price', () => {
    expect(lineAmountMinor(333, '0.50', 'USD')).toBe(lineAmountMinor(333, '0.5', 'USD'));
    expect(compareUnitPrices('0.50', '0.5')).toBe(0);
    expect(compareUnitPrices('0.4999', '0.5')).toBe(-1);
    expect(compareUnitPrices('10', '9.999999999999')).toBe(1);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -1n])('refuses credits %p', (credits) => {
    expect(() => lineAmountMinor(credits, '1', 'USD')).toThrow(BillingValidationError);
  });

  it('refuses an unknown or lower-case currency', () => {
    expect(() => lineAmountMinor(1, '1', 'usd')).toThrow(BillingValidationError);
    expect(() => lineAmountMinor(1, '1', 'XAU')).toThrow(BillingValidationError);
    expect(() => lineAmountMinor(1, '1', 'ABC')).toThrow(BillingValidationError);
  });
});

describe('parseUnitPrice', () => {
  it('reads plain decimals as scaled integers', () => {
    expect(parseUnitPrice('0.00099')).toEqual({ units: 99n, scale: 5 });
    expect(parseUnitPrice('12')).toEqual({ units: 12n, scale: 0 });
    expect(parseUnitPrice('999999999.999999999999')).toEqual({ units: 999999999999999999999n, scale: 12 });
  });

  it.each([
    '',
    '1e-3',
    '1E3',
    '-1',
    '+1',
    ' 1',
    '1 ',
    '01',
    '00.5',
    '.5',
    '1.',
    '0x10',
    '1,5',
    '1.0000000000001',
    '1000000000',
    'NaN',
    'Infinity',
    '١',
    '1_000',
    '1.5\n',
  ])('refuses %p', (price) => {
    expect(isUnitPrice(price)).toBe(false);
    expect(() => parseUnitPrice(price)).toThrow(BillingValidationError);
  });

  it('refuses non-strings', () => {
    expect(isUnitPrice(0.5)).toBe(false);
    expect(() => parseUnitPrice(0.5 as unknown as string)).toThrow(BillingValidationError);
  });
});

describe('formatMinor', () => {
  it.each([
    [1235n, 'USD', '12.35'],
    [5n, 'USD', '0.05'],
    [0n, 'USD', '0.00'],
    [1235n, 'JPY', '1235'],
    [15178n, 'BHD', '15.178'],
    [7n, 'KWD', '0.007'],
    [12345n, 'CLF', '1.2345'],
    [-5n, 'EUR', '-0.05'],
  ])('formats %s %s as %s', (minor, currency, expected) => {
    expect(formatMinor(minor, currency)).toBe(expected);
  });
});

describe('divideRoundHalfEven', () => {
  it('refuses negative numerators and non-positive denominators', () => {
    expect(() => divideRoundHalfEven(-1n, 2n)).toThrow(RangeError);
    expect(() => divideRoundHalfEven(1n, 0n)).toThrow(RangeError);
  });
});

describe('fromJsonInteger', () => {
  it('reads integer strings and refuses anything else', () => {
    expect(fromJsonInteger('99999999900000000')).toBe(99_999_999_900_000_000n);
    expect(fromJsonInteger('-12')).toBe(-12n);
    for (const bad of ['', '01', '1.0', '1e3', ' 1', '+1']) {
      expect(() => fromJsonInteger(bad)).toThrow(BillingValidationError);
    }
  });
});

/** An independent reference: the exact rational value, rounded by distance to both neighbours. */
function referenceAmountMinor(credits: bigint, price: string, exponent: number): bigint {
  const [whole, fraction = ''] = price.split('.');
  const numerator = credits * BigInt(whole + fraction) * 10n ** BigInt(exponent);
  const denominator = 10n ** BigInt(fraction.length);
  const floor = numerator / denominator;
  const distanceDown = numerator - floor * denominator;
  const distanceUp = (floor + 1n) * denominator - numerator;
  if (distanceDown < distanceUp) return floor;
  if (distanceUp < distanceDown) return floor + 1n;
  return floor % 2n === 0n ? floor : floor + 1n;
}

const priceArbitrary = fc
  .tuple(
    fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 999_999_999 })),
    fc.string({ unit: fc.constantFrom('0', '1', '2', '4', '5', '9'), minLength: 0, maxLength: 12 }),
  )
  .map(([whole, fraction]) => (fraction.length > 0 ? `${whole}.${fraction}` : `${whole}`));

const creditsArbitrary = fc.oneof(
  fc.bigInt({ min: 0n, max: 1_000n }),
  fc.bigInt({ min: 0n, max: 1_000_000_000_000n }),
  fc.constantFrom(1n, 3n, 5n, 7n, 1_000_000_000_000n),
);

describe('lineAmountMinor against exact rational arithmetic', () => {
  it('equals the reference for random credits, prices and currencies', () => {
    fc.assert(
      fc.property(
        creditsArbitrary,
        priceArbitrary,
        fc.constantFrom(...activeCurrencies()),
        (credits, price, currency) => {
          expect(lineAmountMinor(credits, price, currency)).toBe(
            referenceAmountMinor(credits, price, minorUnitExponent(currency)),
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('formats amounts so that removing the point gives back the minor units', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.constantFrom(...activeCurrencies()),
        (minor, currency) => {
          const text = formatMinor(minor, currency);
          const exponent = minorUnitExponent(currency);
          expect(text.includes('.')).toBe(exponent > 0);
          if (exponent > 0) expect(text.split('.')[1]).toHaveLength(exponent);
          expect(BigInt(text.replace('.', ''))).toBe(minor);
        },
      ),
    );
  });
});
