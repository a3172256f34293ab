import { activeCurrencies } from '../../../invoicing';
import { fieldCheck } from '../../../http/validators';
import { isDisplaySafe, UNSAFE_TEXT_MESSAGE } from '../../domain/ledger.validation';

/*
 * The shapes every ledger DTO shares. The domain checks each value again (it trusts no caller); these
 * give a 400 with a field-by-field list before anything reaches the ledger. The limits themselves are
 * the domain's, handed on here so the DTOs and the decider can never disagree.
 */

export { IsCreditPrice, IsCurrencyCode, IsInstant, IsNonBlank } from '../../../http/validators';
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

/** Text a person will see (names, references, keys): no controls, separators or bidi formatting (SPEC §7). */
export const IsDisplayText = fieldCheck(
  'isDisplayText',
  (value) => typeof value === 'string' && isDisplaySafe(value),
  UNSAFE_TEXT_MESSAGE,
);
