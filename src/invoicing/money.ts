import { BillingValidationError } from './billing-validation.error';
import { minorUnitExponent } from './currencies';

/**
 * Exact money. Prices are decimal strings and amounts are BigInt minor units, so no value ever
 * passes through binary floating point. See docs/money-and-invoices.md for the JSON rules.
 */

/** Most fractional digits a unit price may carry ("0.000000000001"). */
export const MAX_PRICE_FRACTION_DIGITS = 12;
/** Most integer digits a unit price may carry: a credit never costs 1,000,000,000 or more. */
export const MAX_PRICE_INTEGER_DIGITS = 9;
/**
 * Rule 4: at most 10^12 credits per operation, and so per usage record. The ledger refuses more
 * (src/ledger/domain/credits.ts) and the invoice builder checks each record against the same bound.
 */
export const MAX_CREDITS_PER_OPERATION = 1_000_000_000_000;

const PRICE_PATTERN = new RegExp(
  `^(0|[1-9][0-9]{0,${MAX_PRICE_INTEGER_DIGITS - 1}})(?:\\.([0-9]{1,${MAX_PRICE_FRACTION_DIGITS}}))?$`,
);

/** A price as an integer count of 10^-scale units: "0.00099" is {units: 99n, scale: 5}. */
export interface ScaledDecimal {
  readonly units: bigint;
  readonly scale: number;
}

/**
 * Parses a unit price: plain decimal notation only ("12", "0.5", "0.00099"), no sign, exponent,
 * leading zeros, surrounding blanks, or bare dot. Trailing fractional zeros are kept in the string
 * but do not change the value.
 */
export function parseUnitPrice(price: string): ScaledDecimal {
  const match = typeof price === 'string' ? PRICE_PATTERN.exec(price) : null;
  if (!match) {
    throw new BillingValidationError(
      `invalid unit price ${JSON.stringify(price)}: expected a decimal string with at most ` +
        `${MAX_PRICE_INTEGER_DIGITS} integer and ${MAX_PRICE_FRACTION_DIGITS} fractional digits`,
    );
  }
  const fraction = match[2] ?? '';
  return { units: BigInt(match[1] + fraction), scale: fraction.length };
}

/** True when `price` is acceptable to `parseUnitPrice`. */
export function isUnitPrice(price: unknown): price is string {
  return typeof price === 'string' && PRICE_PATTERN.test(price);
}

/** Compares two valid prices by value ("0.50" equals "0.5"). */
export function compareUnitPrices(a: string, b: string): number {
  const x = parseUnitPrice(a);
  const y = parseUnitPrice(b);
  const scale = Math.max(x.scale, y.scale);
  const left = x.units * 10n ** BigInt(scale - x.scale);
  const right = y.units * 10n ** BigInt(scale - y.scale);
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * Validates a credit count, a non-negative integer, and returns it as a bigint. No upper bound
 * here: an invoice line sums many records, each capped at `MAX_CREDITS_PER_OPERATION` by the ledger.
 */
export function toCredits(credits: bigint | number): bigint {
  if (typeof credits === 'number' && !Number.isSafeInteger(credits)) {
    throw new BillingValidationError(`credits must be an integer, got ${credits}`);
  }
  if (typeof credits !== 'number' && typeof credits !== 'bigint') {
    throw new BillingValidationError(`credits must be an integer, got ${JSON.stringify(credits)}`);
  }
  const value = BigInt(credits);
  if (value < 0n) throw new BillingValidationError(`credits must not be negative, got ${value}`);
  return value;
}

/**
 * numerator / denominator rounded to the nearest integer, ties to the even neighbour (banker's
 * rounding): it is unbiased, so summing many rounded lines does not drift in either party's favour.
 * Both operands must be non-negative; billing never rounds a negative quantity.
 */
export function divideRoundHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n || denominator <= 0n) {
    throw new RangeError('divideRoundHalfEven expects numerator >= 0 and denominator > 0');
  }
  const quotient = numerator / denominator;
  const twiceRemainder = (numerator % denominator) * 2n;
  if (twiceRemainder > denominator) return quotient + 1n;
  if (twiceRemainder < denominator) return quotient;
  return quotient % 2n === 0n ? quotient : quotient + 1n;
}

/**
 * credits × unitPrice in the currency's minor units, rounded half-even (rule 4).
 * 1,234,567 × "0.00099" USD = 1222.22133 USD → 122222n.
 */
export function lineAmountMinor(credits: bigint | number, unitPrice: string, currency: string): bigint {
  const count = toCredits(credits);
  const price = parseUnitPrice(unitPrice);
  const exponent = minorUnitExponent(currency);
  // amount in minor units = count × units × 10^exponent / 10^scale, exactly, then one rounding.
  return divideRoundHalfEven(count * price.units * 10n ** BigInt(exponent), 10n ** BigInt(price.scale));
}

/** Minor units as a plain decimal string in major units: 1235n USD → "12.35", JPY → "1235". */
export function formatMinor(minor: bigint, currency: string): string {
  const exponent = minorUnitExponent(currency);
  const sign = minor < 0n ? '-' : '';
  const digits = (minor < 0n ? -minor : minor).toString();
  if (exponent === 0) return sign + digits;
  const padded = digits.padStart(exponent + 1, '0');
  return `${sign}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}

/** The JSON form of a minor-unit amount or credit total: a string of decimal digits. */
export function toJsonInteger(value: bigint): string {
  return value.toString();
}

/** Reads a JSON integer string written by `toJsonInteger` (digits only, optional minus). */
export function fromJsonInteger(value: string): bigint {
  if (typeof value !== 'string' || !/^-?(0|[1-9][0-9]*)$/.test(value)) {
    throw new BillingValidationError(`expected an integer string, got ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}
