import { SubledgerError } from '../kernel/subledger-error';

/** Missing, malformed, unknown or revoked credentials: 401 with `WWW-Authenticate: Bearer`. */
export class UnauthorizedError extends SubledgerError {
  constructor(detail = 'A valid bearer token is required.') {
    super('unauthorized', 'unauthenticated', detail);
    this.name = 'UnauthorizedError';
  }
}

/** A valid key of this parent that the route is not for (e.g. a sub-account key on a parent-only route). */
export class ForbiddenError extends SubledgerError {
  constructor(detail = 'This key may not use this route.') {
    super('forbidden', 'forbidden', detail);
    this.name = 'ForbiddenError';
  }
}

/**
 * Anything of another tenant. The same answer as for a parent or sub-account that does not exist,
 * so a key never learns whether another tenant's id is taken.
 */
export class TenantNotFoundError extends SubledgerError {
  constructor(detail = 'Not found.') {
    super('not_found', 'not_found', detail);
    this.name = 'TenantNotFoundError';
  }
}
