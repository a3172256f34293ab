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

/**
 * A projection could not write a batch: names the projection and the events' place in `$all`, so an
 * operator can find the event (an event the fold cannot take is the log's, not the database's) without
 * reading the stack. The original error is the `cause`.
 */
export class ProjectionWriteError extends Error {
  constructor(
    readonly projection: string,
    readonly version: number,
    readonly fromCommit: bigint,
    readonly toCommit: bigint,
    cause: unknown,
  ) {
    super(
      `the ${projection} v${version} projection could not write the events at commit positions ` +
        `${fromCommit}–${toCommit}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'ProjectionWriteError';
  }
}
