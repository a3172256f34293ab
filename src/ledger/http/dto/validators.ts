import { registerDecorator, type ValidationOptions } from 'class-validator';
import { activeCurrencies, isCurrency } from '../../../billing/domain/currencies';
import { isUnitPrice } from '../../../billing/domain/money';
import { isDisplaySafe, UNSAFE_TEXT_MESSAGE } from '../../domain/ledger.validation';

/*
 * The shapes every ledger DTO shares. The domain checks each value again (it trusts no caller); these
 * give a 400 with a field-by-field list before anything reaches the ledger.
 */

/** Ids become stream names (`ledger-<id>`) and URL segments: ASCII, no separators but `_ . -`. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const ID_DESCRIPTION = "1–64 of A-Z a-z 0-9 '_' '.' '-', starting with a letter or digit";
export const METER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/;
/** RFC 3339 with an explicit offset: a local time would be a different instant on each machine. */
export const INSTANT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
/** Rule 4: one operation moves at most 10^12 credits. */
export const MAX_CREDITS = 1_000_000_000_000;
export const MAX_NAME_LENGTH = 200;
export const CURRENCIES = activeCurrencies();

function custom(name: string, test: (value: unknown) => boolean, message: string) {
  return (options?: ValidationOptions) =>
    (target: object, propertyName: string): void =>
      registerDecorator({
        name,
        target: target.constructor,
        propertyName,
        options: { message: `$property ${message}`, ...options },
        validator: { validate: test },
      });
}

export const IsCurrencyCode = custom(
  'isCurrencyCode',
  (value) => typeof value === 'string' && isCurrency(value),
  'must be an active ISO 4217 currency code such as EUR',
);

export const IsCreditPrice = custom(
  'isCreditPrice',
  isUnitPrice,
  'must be a decimal string such as "0.00099" (at most 9 integer and 12 fraction digits)',
);

export const IsInstant = custom(
  'isInstant',
  (value) =>
    typeof value === 'string' && INSTANT_PATTERN.test(value) && !Number.isNaN(new Date(value).getTime()),
  'must be an ISO 8601 instant with a zone, e.g. 2026-10-31T23:00:00Z',
);

export const IsNonBlank = custom(
  'isNonBlank',
  (value) => typeof value === 'string' && value.trim().length > 0,
  'must not be blank',
);

/** Text a person will see (names, references, keys): no controls, separators or bidi formatting (SPEC §7). */
export const IsDisplayText = custom(
  'isDisplayText',
  (value) => typeof value === 'string' && isDisplaySafe(value),
  UNSAFE_TEXT_MESSAGE,
);
