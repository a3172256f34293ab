import { SubledgerError } from '../../kernel/subledger-error';

/** The index could not be read: usage cannot be decided without it, so nothing is recorded. */
export class UsageKeyIndexUnavailableError extends SubledgerError {
  constructor(cause: unknown) {
    super(
      'service_unavailable',
      'unavailable',
      `the idempotency-key index (PostgreSQL) could not be read, so the usage was not recorded: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      {},
      { cause },
    );
  }
}

/** The reversible-usage index could not be read (or is behind): the reversal is not recorded. */
export class ReversibleUsageIndexUnavailableError extends SubledgerError {
  constructor(cause: unknown) {
    super(
      'service_unavailable',
      'unavailable',
      `the reversible-usage index (PostgreSQL) could not be read, so the reversal was not recorded: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      {},
      { cause },
    );
  }
}
