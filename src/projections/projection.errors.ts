/**
 * A read model is still being (re)built or caught up, so answering now would show a half-built
 * result. The HTTP layer answers 503 with `Retry-After`; `code` is the stable machine code.
 */
export class ProjectionRebuildingError extends Error {
  readonly code = 'projection_rebuilding';
  readonly status = 503;

  constructor(
    readonly projection: string,
    readonly waitedMs: number,
  ) {
    super(`The ${projection} read model is being rebuilt from the event log; retry shortly.`);
    this.name = 'ProjectionRebuildingError';
  }
}

/** A write was not yet reflected by every read model within the caller's bound. */
export class ProjectionLagError extends Error {
  readonly code = 'projection_lagging';
  readonly status = 503;

  constructor(
    readonly position: bigint,
    readonly waitedMs: number,
  ) {
    super(`The read models have not reached position ${position} within ${waitedMs} ms; retry shortly.`);
    this.name = 'ProjectionLagError';
  }
}

/** A query argument that no read model can answer (a bad cursor, an unaligned day range). */
export class ProjectionQueryError extends Error {
  readonly code = 'validation_failed';

  constructor(message: string) {
    super(message);
    this.name = 'ProjectionQueryError';
  }
}
