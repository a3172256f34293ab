import { SubledgerError } from '../kernel/subledger-error';

/**
 * Raised when billing input is malformed (a bad price, an unknown currency, a period that is not
 * `YYYY-MM`, usage that does not fit the terms given). Its code is
 * `validation_failed`; inside a period close it means the adapter fed the builder inconsistent
 * facts, which must stop the close rather than issue a wrong invoice.
 */
export class BillingValidationError extends SubledgerError {
  constructor(message: string) {
    super('validation_failed', 'invalid', message);
    this.name = 'BillingValidationError';
  }
}
