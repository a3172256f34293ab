/**
 * Stable machine codes for refused commands. The HTTP layer maps each code to a status in
 * one place; the domain never knows about HTTP.
 */
export type DomainErrorCode =
  | 'validation_failed'
  | 'not_found'
  | 'already_exists'
  | 'insufficient_pool'
  | 'insufficient_quota'
  | 'quota_below_used'
  | 'idempotency_conflict'
  | 'sub_account_closed'
  | 'period_not_ended'
  | 'period_already_closed'
  | 'limit_exceeded'
  | 'last_parent_key';

/** A command refused by a business rule or by its input; no event was decided. */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'DomainError';
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
