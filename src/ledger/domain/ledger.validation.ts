import { compareUnitPrices, isCurrency, isInstant, isUnitPrice } from '../../invoicing';
import { ID_PATTERN } from '../../kernel/ids';
import { DomainError } from './domain-error';
import {
  BILLING_MODELS,
  LOT_KINDS,
  type BillingModel,
  type DecimalPrice,
  type LotKind,
  type UsageAttributes,
} from './ledger.events';

/*
 * Business-level checks of command fields. The HTTP layer checks JSON shapes too, but the
 * domain must not trust any caller: every value that reaches an event passes through here.
 */

// These limits are the ledger's; the HTTP DTOs import them to answer field by field. The id grammar
// is the kernel's (the auth guard needs it too); prices, currencies and instants follow the
// invoicing core's rules (src/invoicing), so that everything the ledger records can be invoiced.

export { ID_PATTERN };
export const METER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/;

/**
 * Characters that text a person will see may not hold (SPEC §7): C0 and C1 controls and DEL (tabs and
 * newlines included: names, references and keys are one line), the Unicode line and paragraph
 * separators, every bidirectional formatting character (marks, embeddings, overrides, isolates: they
 * can make "credit 100" read as something else in a console or CSV), and lone UTF-16 surrogates.
 */
const UNSAFE_TEXT = new RegExp(
  '[\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u2028\\u2029\\u202A-\\u202E\\u2066-\\u2069]' +
    '|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]',
);

/** Whether `value` holds none of the characters above. */
export function isDisplaySafe(value: string): boolean {
  return !UNSAFE_TEXT.test(value);
}

export const UNSAFE_TEXT_MESSAGE =
  'must not contain control characters, line separators or bidirectional formatting characters';

export const MAX_NAME_LENGTH = 200;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
export const MAX_REFERENCE_LENGTH = 200;
export const MAX_REGION_LENGTH = 64;
export const MAX_ATTRIBUTES = 32;
export const MAX_ATTRIBUTE_VALUE_LENGTH = 256;

function invalid(detail: string): never {
  throw new DomainError('validation_failed', detail);
}

export function requireId(field: string, value: unknown): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    invalid(`${field} must be 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  }
  return value;
}

export function requireName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > MAX_NAME_LENGTH) {
    invalid(`${field} must be a non-blank string of at most ${MAX_NAME_LENGTH} characters`);
  }
  if (!isDisplaySafe(value)) invalid(`${field} ${UNSAFE_TEXT_MESSAGE}`);
  return value;
}

export function requireText(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    invalid(`${field} must be a non-empty string of at most ${maxLength} characters`);
  }
  if (!isDisplaySafe(value)) invalid(`${field} ${UNSAFE_TEXT_MESSAGE}`);
  return value;
}

/** An active ISO 4217 code (the invoicing core's table, with its minor-unit exponents). */
export function requireCurrency(value: unknown): string {
  if (typeof value !== 'string' || !isCurrency(value)) {
    invalid('currency must be an active ISO 4217 currency code such as EUR');
  }
  return value;
}

/** Kept as written, so an invoice shows the price the operator typed. */
export function requirePrice(field: string, value: unknown): DecimalPrice {
  if (!isUnitPrice(value)) {
    invalid(`${field} must be a decimal string such as "0.00099" (at most 9 integer and 12 fraction digits)`);
  }
  return value;
}

/** "0.5" and "0.50" are one price: changing one into the other changes nothing. */
export function samePrice(left: DecimalPrice | null, right: DecimalPrice | null): boolean {
  if (left === null || right === null) return left === right;
  return compareUnitPrices(left, right) === 0;
}

export function requireBillingModel(value: unknown): BillingModel {
  if (!BILLING_MODELS.includes(value as BillingModel)) {
    invalid(`billingModel must be one of ${BILLING_MODELS.join(', ')}`);
  }
  return value as BillingModel;
}

export function requireLotKind(value: unknown): LotKind {
  if (!LOT_KINDS.includes(value as LotKind)) invalid(`kind must be one of ${LOT_KINDS.join(', ')}`);
  return value as LotKind;
}

export function requireMeter(value: unknown): string {
  if (typeof value !== 'string' || !METER_PATTERN.test(value)) {
    invalid("meter must be 1–64 letters, digits, '_', '.', ':', '/' or '-'");
  }
  return value;
}

/** Parses an RFC 3339 instant with an explicit offset; `Date` alone accepts far too much. */
export function requireInstant(field: string, value: unknown): Date {
  if (!isInstant(value)) {
    invalid(`${field} must be an RFC 3339 instant with an offset, e.g. 2026-10-31T23:00:00Z`);
  }
  return new Date(value);
}

export function requireAttributes(value: unknown): UsageAttributes {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalid('attributes must be an object');
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_ATTRIBUTES) invalid(`attributes may hold at most ${MAX_ATTRIBUTES} entries`);
  for (const [name, attribute] of entries) {
    if (!METER_PATTERN.test(name)) invalid(`attribute name "${name.slice(0, 64)}" is not allowed`);
    if (typeof attribute === 'string' && !isDisplaySafe(attribute)) {
      invalid(`attribute "${name}" ${UNSAFE_TEXT_MESSAGE}`);
    }
    const ok =
      (typeof attribute === 'string' && attribute.length <= MAX_ATTRIBUTE_VALUE_LENGTH) ||
      (typeof attribute === 'number' && Number.isFinite(attribute)) ||
      typeof attribute === 'boolean';
    if (!ok) {
      invalid(
        `attribute "${name}" must be a string of at most ${MAX_ATTRIBUTE_VALUE_LENGTH} characters, a finite number or a boolean`,
      );
    }
  }
  return value as UsageAttributes;
}
