import { ForbiddenError, TenantNotFoundError, UnauthorizedError } from '../auth/auth.errors';
import { MaxAppendSizeExceededError } from '@eventstore/db-client';
import {
  AppendTooLargeError,
  ConcurrencyConflictError,
  EventStoreUnavailableError,
} from '../event-store/command-processing/command-processing.errors';
import { BillingValidationError } from '../invoicing/billing-validation.error';
import { SubledgerError } from '../kernel/subledger-error';
import { DomainError, type DomainErrorCode } from '../ledger/domain/domain-error';
import {
  ProjectionLagError,
  ProjectionQueryError,
  ProjectionRebuildingError,
} from '../projections/projection.errors';
import { toProblem } from './error-problem';
import { PROBLEMS } from './problem';

const DOMAIN_CODES = {
  validation_failed: true,
  not_found: true,
  already_exists: true,
  insufficient_pool: true,
  insufficient_quota: true,
  quota_below_used: true,
  idempotency_conflict: true,
  sub_account_closed: true,
  period_not_ended: true,
  period_already_closed: true,
  limit_exceeded: true,
  last_parent_key: true,
  close_too_large: true,
  invoices_exceed_one_append: true,
  invoices_changed: true,
  reversal_exceeds_usage: true,
} as const satisfies Record<DomainErrorCode, true>;

const site = { method: 'POST', url: '/v1/parents/p/usage?x=1' };

describe('toProblem, the one mapping from an error to problem+json', () => {
  it.each(Object.keys(DOMAIN_CODES) as DomainErrorCode[])(
    "a domain refusal %s answers its code, the status its kind decides and the table's title",
    (code) => {
      const problem = toProblem(new DomainError(code, 'why it was refused'), site);
      expect(problem).toEqual({
        type: `https://subledger.dev/problems/${code}`,
        title: PROBLEMS[code].title,
        status: PROBLEMS[code].status,
        detail: `${code}: why it was refused`,
        code,
        instance: '/v1/parents/p/usage',
      });
    },
  );

  it.each([
    [new UnauthorizedError(), 401, 'unauthorized'],
    [new ForbiddenError(), 403, 'forbidden'],
    [new TenantNotFoundError(), 404, 'not_found'],
    [new BillingValidationError('period must be YYYY-MM'), 400, 'validation_failed'],
    [new ProjectionQueryError('bad cursor'), 400, 'validation_failed'],
    [new ProjectionRebuildingError('history', 10), 503, 'projection_rebuilding'],
    [new ProjectionLagError(5n, 10), 503, 'projection_lagging'],
    [new ConcurrencyConflictError('ledger-p', 3), 409, 'concurrency_conflict'],
    [new EventStoreUnavailableError('ledger-p', 'the store did not answer'), 503, 'event_store_unavailable'],
    [new AppendTooLargeError('ledger-p', 1_048_576, 2_000), 422, 'append_too_large'],
  ] as const)('%s answers %i %s with its own detail', (error, status, code) => {
    expect(error).toBeInstanceOf(SubledgerError);
    expect(toProblem(error, site)).toMatchObject({ status, code, detail: error.message });
  });

  it('extensions of the error and of the caller become members; core members cannot be overwritten', () => {
    const error = new SubledgerError('insufficient_pool', 'conflict', 'The pool has 5 credits.', {
      available: 5,
      status: 200,
    });
    expect(toProblem(error, site, { requestId: 'r-1' })).toMatchObject({
      status: 409,
      available: 5,
      requestId: 'r-1',
    });
  });

  it('an unexpected error is a bare 500 that reveals nothing', () => {
    const problem = toProblem(new Error('secret at /srv/app.ts:1'), site);
    expect(problem).toMatchObject({ status: 500, code: 'internal_error' });
    expect(JSON.stringify(problem)).not.toContain('secret');
  });
});

describe('a refused append because of its size', () => {
  it('is 422 append_too_large naming the size, never 503 event_store_unavailable', () => {
    const problem = toProblem(MaxAppendSizeExceededError.fromMaxAppendSize(1_048_576), site);
    expect(problem).toMatchObject({ status: 422, code: 'append_too_large' });
    expect(problem.detail).toContain('1048576 bytes');
  });
});
