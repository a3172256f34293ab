import { SubledgerError } from '../../kernel/subledger-error';

/** An index in PostgreSQL the decision needs could not be read (or is behind): nothing is recorded. */
class IndexUnavailableError extends SubledgerError {
  constructor(index: string, refused: string, cause: unknown) {
    super(
      'service_unavailable',
      'unavailable',
      `the ${index} (PostgreSQL) could not be read, so the ${refused} was not recorded: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      {},
      { cause },
    );
  }
}

/** The index could not be read: usage cannot be decided without it, so nothing is recorded. */
export class UsageKeyIndexUnavailableError extends IndexUnavailableError {
  constructor(cause: unknown) {
    super('idempotency-key index', 'usage', cause);
  }
}

/** The reversible-usage index could not be read (or is behind): the reversal is not recorded. */
export class ReversibleUsageIndexUnavailableError extends IndexUnavailableError {
  constructor(cause: unknown) {
    super('reversible-usage index', 'reversal', cause);
  }
}
