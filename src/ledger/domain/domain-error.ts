import { SubledgerError, type ErrorKind } from '../../kernel/subledger-error';

/** Stable machine codes for refused commands, each with what it means; HTTP chooses the status from that. */
const KIND_OF: Readonly<Record<DomainErrorCode, ErrorKind>> = {
  validation_failed: 'invalid',
  not_found: 'not_found',
  already_exists: 'conflict',
  insufficient_pool: 'conflict',
  insufficient_quota: 'conflict',
  quota_below_used: 'conflict',
  idempotency_conflict: 'conflict',
  sub_account_closed: 'conflict',
  period_not_ended: 'conflict',
  period_already_closed: 'conflict',
  limit_exceeded: 'conflict',
  last_parent_key: 'conflict',
  close_too_large: 'unprocessable',
  invoices_exceed_one_append: 'conflict',
  invoices_changed: 'conflict',
  reversal_exceeds_usage: 'conflict',
};

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
  | 'last_parent_key'
  /** A close that cannot be written at all (one invoice section bigger than an event). */
  | 'close_too_large'
  /** Internal to the close: its invoices must be written to `ledgerinvoices-` first (never answered). */
  | 'invoices_exceed_one_append'
  /** Internal to the close: what was written to `ledgerinvoices-` is no longer what it would issue. */
  | 'invoices_changed'
  /** A reversal of more credits than its usage has left unreversed. */
  | 'reversal_exceeds_usage';

/**
 * A command refused by a business rule or by its input; no event was decided. `reason` is the rule's
 * own sentence; the detail (and message) leads with the code, as every answer has so far.
 */
export class DomainError extends SubledgerError {
  declare readonly code: DomainErrorCode;

  constructor(
    code: DomainErrorCode,
    readonly reason: string,
  ) {
    super(code, KIND_OF[code], `${code}: ${reason}`);
    this.name = 'DomainError';
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
