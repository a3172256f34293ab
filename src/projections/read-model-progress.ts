import type { LogPosition } from './projection';

/** How far one projection has got, as health, the tests and the tools read it. */
export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  /** True when it started without a checkpoint of this version and is folding the log from its start. */
  readonly rebuilding: boolean;
  readonly caughtUp: boolean;
  /** The position of the last event committed to its tables (by this instance or another). */
  readonly checkpoint: LogPosition | null;
  readonly eventsApplied: number;
}

/**
 * What the API needs to know of the read models, wherever the projector runs (in this thread for the
 * tests and tools, in a worker thread by default, or in a process of its own): whether they have caught
 * up since the start (readiness, and reads that must not see a half-built model), and whether they have
 * committed a given position (read-your-writes). An abstract class so that it is its own injection token.
 */
export abstract class ReadModelProgress {
  abstract isCaughtUp(): boolean;

  /**
   * Resolves once the read models have committed everything the log held when this started. Rejects
   * with `ProjectionRebuildingError` (→ 503) after `timeoutMs` (0 only checks), or with the cause
   * when the projector failed for good.
   */
  abstract whenCaughtUp(timeoutMs: number, projectionName?: string): Promise<void>;

  /**
   * Read-your-writes: resolves once every projection has committed the event at `commitPosition` (the
   * position the command side got back from its append to a `ledger-` stream). Rejects with
   * `ProjectionLagError` after `timeoutMs`.
   */
  abstract waitForPosition(commitPosition: bigint, timeoutMs: number): Promise<void>;

  /** For a query on `name`'s tables: waits (bounded) until the read model has caught up. */
  abstract readable(name: string, timeoutMs: number): Promise<void>;

  abstract status(): ProjectionStatus[];
}
