import { registerDecorator, type ValidationOptions } from 'class-validator';
import { isCurrency, isInstant, isUnitPrice } from '../invoicing';

/*
 * Field checks any route's DTO may use: a 400 with a field-by-field list before anything reaches the
 * application. The grammars are the invoicing core's, so a DTO and the domain can never disagree.
 */

/** A class-validator decorator from a test and the message after the property's name. */
export function fieldCheck(name: string, test: (value: unknown) => boolean, message: string) {
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

export const IsCurrencyCode = fieldCheck(
  'isCurrencyCode',
  (value) => typeof value === 'string' && isCurrency(value),
  'must be an active ISO 4217 currency code such as EUR',
);

export const IsCreditPrice = fieldCheck(
  'isCreditPrice',
  isUnitPrice,
  'must be a decimal string such as "0.00099" (at most 9 integer and 12 fraction digits)',
);

/** RFC 3339 with an explicit offset: a local time would be a different instant on each machine. */
export const IsInstant = fieldCheck(
  'isInstant',
  isInstant,
  'must be an ISO 8601 instant with a zone, e.g. 2026-10-31T23:00:00Z',
);

export const IsNonBlank = fieldCheck(
  'isNonBlank',
  (value) => typeof value === 'string' && value.trim().length > 0,
  'must not be blank',
);
