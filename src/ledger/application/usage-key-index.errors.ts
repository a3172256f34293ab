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
