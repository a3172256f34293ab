import { registerDecorator, type ValidationOptions } from 'class-validator';
import { activeCurrencies, isCurrency, isInstant, isUnitPrice } from '../../../invoicing';
import { isDisplaySafe, UNSAFE_TEXT_MESSAGE } from '../../domain/ledger.validation';

/*
 * The shapes every ledger DTO shares. The domain checks each value again (it trusts no caller); these
 * give a 400 with a field-by-field list before anything reaches the ledger. The limits themselves are
 * the domain's, handed on here so the DTOs and the decider can never disagree.
 */

export {
  ID_PATTERN,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_NAME_LENGTH,
  MAX_REFERENCE_LENGTH,
  MAX_REGION_LENGTH,
  METER_PATTERN,
} from '../../domain/ledger.validation';
export { MAX_CREDITS_PER_OPERATION as MAX_CREDITS } from '../../domain/credits';
export const ID_DESCRIPTION = "1–64 of A-Z a-z 0-9 '_' '.' '-', starting with a letter or digit";
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

/** RFC 3339 with an explicit offset: a local time would be a different instant on each machine. */
export const IsInstant = custom(
  'isInstant',
  isInstant,
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
