/**
 * The stable machine codes of the API's errors and the HTTP status and title each one answers with.
 * Errors carry one of these codes; `toProblem` (error-problem.ts) turns any error into
 * `application/problem+json` (RFC 9457) in one place, so routes never map errors themselves.
 *
 * 409 is for a request that is well formed but conflicts with the current state (not enough credits,
 * a closed sub-account, a reused idempotency key); 400 for a request that is wrong whatever the state.
 */
export const PROBLEMS = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_json: { status: 400, title: 'The request body is not valid JSON' },
  bad_request: { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'Not acceptable' },
  conflict: { status: 409, title: 'Conflict' },
  already_exists: { status: 409, title: 'It already exists' },
  limit_exceeded: { status: 409, title: 'A limit of the ledger would be exceeded' },
  insufficient_pool: { status: 409, title: "The parent's pool has too few credits" },
  insufficient_quota: { status: 409, title: "The sub-account's quota has too few credits left" },
  quota_below_used: { status: 409, title: 'The quota cannot go below the credits already used' },
  idempotency_conflict: { status: 409, title: 'The idempotency key was used with a different request' },
  sub_account_closed: { status: 409, title: 'The sub-account is closed' },
  concurrency_conflict: { status: 409, title: 'Too many concurrent changes; retry the request' },
  period_not_ended: { status: 409, title: 'The billing period has not ended yet' },
  period_already_closed: { status: 409, title: 'The billing period is already closed' },
  last_parent_key: { status: 409, title: "The parent's last active key cannot be revoked" },
  invoices_exceed_one_append: {
    status: 409,
    title: "The period's invoices must be written before its closing (internal to the close)",
  },
  invoices_changed: {
    status: 409,
    title: "The period's usage changed while its invoices were written; close it again",
  },
  reversal_exceeds_usage: { status: 409, title: 'The reversal exceeds what is left of the usage to reverse' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type; send application/json' },
  unprocessable: { status: 422, title: 'Unprocessable request' },
  append_too_large: { status: 422, title: 'More than the event store takes in one append' },
  close_too_large: {
    status: 422,
    title: 'The billing period cannot be closed: an invoice part is too large',
  },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal error' },
  not_implemented: { status: 501, title: 'Not implemented' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  event_store_unavailable: { status: 503, title: 'The event store is unavailable' },
  projection_rebuilding: { status: 503, title: 'A read model is being rebuilt; retry shortly' },
  projection_lagging: { status: 503, title: 'A read model has not caught up with the last write yet' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

export const PROBLEM_TYPE_BASE = 'https://subledger.dev/problems/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
  readonly instance: string;
  readonly [extension: string]: unknown;
}

export function isProblemCode(code: unknown): code is ProblemCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(PROBLEMS, code);
}

/**
 * An error of the HTTP edge itself (body parser, validation pipe, rate limit, a route's query
 * checks), whose status is its code's row here: some (413, 415, 429) have no meaning outside HTTP.
 * Every other layer raises a `SubledgerError` (src/kernel), whose kind decides the status.
 * `extensions` become extra members of the problem document (e.g. `errors` for validation); never
 * put secrets there.
 */
export class ApplicationError extends Error {
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly extensions: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'ApplicationError';
  }

  get status(): number {
    return PROBLEMS[this.code].status;
  }
}
