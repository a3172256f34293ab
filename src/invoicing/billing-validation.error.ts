/**
 * Raised when billing input is malformed (a bad price, an unknown currency, a period that is not
 * `YYYY-MM`, usage that does not fit the terms given). The HTTP layer maps it to
 * `validation_failed`; inside a period close it means the adapter fed the builder inconsistent
 * facts, which must stop the close rather than issue a wrong invoice.
 */
export class BillingValidationError extends Error {
  readonly code = 'validation_failed' as const;

  constructor(message: string) {
    super(message);
    this.name = 'BillingValidationError';
  }
}
