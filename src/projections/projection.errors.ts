import { SubledgerError } from '../kernel/subledger-error';

/**
 * A read model is still being (re)built or caught up, so answering now would show a half-built
 * result. Answered 503 with `Retry-After`.
 */
export class ProjectionRebuildingError extends SubledgerError {
  constructor(
    readonly projection: string,
    readonly waitedMs: number,
  ) {
    super(
      'projection_rebuilding',
      'unavailable',
      `The ${projection} read model is being rebuilt from the event log; retry shortly.`,
    );
    this.name = 'ProjectionRebuildingError';
  }
}

/** A write was not yet reflected by every read model within the caller's bound. */
export class ProjectionLagError extends SubledgerError {
  constructor(
    readonly position: bigint,
    readonly waitedMs: number,
  ) {
    super(
      'projection_lagging',
      'unavailable',
      `The read models have not reached position ${position} within ${waitedMs} ms; retry shortly.`,
    );
    this.name = 'ProjectionLagError';
  }
}

/** A query argument that no read model can answer (a bad cursor, an unaligned day range). */
export class ProjectionQueryError extends SubledgerError {
  constructor(message: string) {
    super('validation_failed', 'invalid', message);
    this.name = 'ProjectionQueryError';
  }
}
