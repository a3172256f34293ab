import { DomainError } from './domain-error';
import { BILLING_MODELS, type BillingModel, type DecimalPrice, type UsageAttributes } from './ledger.events';

/*
 * Business-level checks of command fields. The HTTP layer checks JSON shapes too, but the
 * domain must not trust any caller: every value that reaches an event passes through here.
 */

// Ids end up in stream names (`ledger-<parentId>`) and URLs, so keep them URL- and
// stream-safe; a dash is fine because the category is the part before the first dash.
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const METER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/;
// The grammar billing prices with (src/billing/domain/money.ts): no sign, exponent or leading
// zeros, at most 9 integer and 12 fraction digits. Kept identical so that every price the ledger
// records can be invoiced.
const PRICE_PATTERN = /^(0|[1-9]\d{0,8})(?:\.(\d{1,12}))?$/;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
const INSTANT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

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

/**
 * Any three uppercase letters for now; billing owns the ISO 4217 table (with minor-unit
 * exponents) and the check will move to it once it exists.
 */
export function requireCurrency(value: unknown): string {
  if (typeof value !== 'string' || !CURRENCY_PATTERN.test(value)) {
    invalid('currency must be an ISO 4217 code of three uppercase letters');
  }
  return value;
}

/** Kept as written, so an invoice shows the price the operator typed. */
export function requirePrice(field: string, value: unknown): DecimalPrice {
  if (typeof value !== 'string' || !PRICE_PATTERN.test(value)) {
    invalid(`${field} must be a decimal string such as "0.00099" (at most 9 integer and 12 fraction digits)`);
  }
  return value;
}

/** "0.5" and "0.50" are one price: changing one into the other changes nothing. */
export function samePrice(left: DecimalPrice | null, right: DecimalPrice | null): boolean {
  if (left === null || right === null) return left === right;
  return canonicalPrice(left) === canonicalPrice(right);
}

function canonicalPrice(price: DecimalPrice): string {
  const [integer, fraction = ''] = price.split('.');
  const significant = fraction.replace(/0+$/, '');
  return significant ? `${integer}.${significant}` : integer;
}

export function requireBillingModel(value: unknown): BillingModel {
  if (!BILLING_MODELS.includes(value as BillingModel)) {
    invalid(`billingModel must be one of ${BILLING_MODELS.join(', ')}`);
  }
  return value as BillingModel;
}

export function requireMeter(value: unknown): string {
  if (typeof value !== 'string' || !METER_PATTERN.test(value)) {
    invalid("meter must be 1–64 letters, digits, '_', '.', ':', '/' or '-'");
  }
  return value;
}

/** Parses an RFC 3339 instant with an explicit offset; `Date` alone accepts far too much. */
export function requireInstant(field: string, value: unknown): Date {
  const instant = typeof value === 'string' && INSTANT_PATTERN.test(value) ? new Date(value) : null;
  if (!instant || Number.isNaN(instant.getTime())) {
    invalid(`${field} must be an RFC 3339 instant with an offset, e.g. 2026-10-31T23:00:00Z`);
  }
  return instant;
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
