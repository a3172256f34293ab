import { ProjectionLagError, ProjectionRebuildingError } from '../projection.errors';
import type { AnyProjection } from '../projection';
import { ReadModelProgress, type ProjectionStatus } from '../read-model-progress';

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

interface PositionWaiter extends Waiter {
  readonly commit: bigint;
}

/**
 * The read models' progress as the API's thread learns it from a projector that runs elsewhere (a
 * worker thread, or a process of its own through the checkpoint rows): the committed position only ever
 * moves forward, and the waiters of read-your-writes and of readiness are settled here, on this thread,
 * without a round trip per request.
 */
export abstract class FollowedProgress extends ReadModelProgress {
  private committed: bigint | null = null;
  private caughtUp = false;
  private failure: Error | null = null;
  private reported: ProjectionStatus[];
  private positionWaiters: PositionWaiter[] = [];
  private caughtUpWaiters: Waiter[] = [];

  protected constructor(private readonly projections: readonly AnyProjection[]) {
    super();
    this.reported = projections.map((projection) => ({
      name: projection.name,
      version: projection.version,
      rebuilding: false,
      caughtUp: false,
      checkpoint: null,
      eventsApplied: 0,
    }));
  }

  isCaughtUp(): boolean {
    return this.caughtUp;
  }

  whenCaughtUp(timeoutMs: number, projectionName = 'projections'): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.caughtUp) return Promise.resolve();
    if (timeoutMs <= 0) return Promise.reject(new ProjectionRebuildingError(projectionName, 0));
    return this.wait<Waiter>(
      (settle) => settle,
      timeoutMs,
      () => new ProjectionRebuildingError(projectionName, timeoutMs),
      this.caughtUpWaiters,
    );
  }

  waitForPosition(commitPosition: bigint, timeoutMs: number): Promise<void> {
    if (this.committed !== null && this.committed >= commitPosition) return Promise.resolve();
    if (timeoutMs <= 0) return Promise.reject(new ProjectionLagError(commitPosition, 0));
    this.wanted(commitPosition);
    return this.wait<PositionWaiter>(
      (settle) => ({ commit: commitPosition, ...settle }),
      timeoutMs,
      () => new ProjectionLagError(commitPosition, timeoutMs),
      this.positionWaiters,
    );
  }

  async readable(name: string, timeoutMs: number): Promise<void> {
    if (!this.projections.some((projection) => projection.name === name)) {
      throw new Error(`No projection named ${name} is registered`);
    }
    await this.whenCaughtUp(timeoutMs, name);
  }

  status(): ProjectionStatus[] {
    return this.reported;
  }

  /** A reader waits for `commit`: a projector that can hear it commits without lingering. */
  protected wanted(_commit: bigint): void {}

  /** Everything up to `commit` is in every read model's tables. */
  protected advance(commit: bigint): void {
    if (this.committed !== null && commit <= this.committed) return;
    this.committed = commit;
    if (this.positionWaiters.length === 0) return;
    const still: PositionWaiter[] = [];
    for (const waiter of this.positionWaiters) {
      if (waiter.commit <= commit) waiter.resolve();
      else still.push(waiter);
    }
    this.positionWaiters = still;
  }

  protected markCaughtUp(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    const waiters = this.caughtUpWaiters;
    this.caughtUpWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  protected report(status: ProjectionStatus[]): void {
    this.reported = status;
  }

  /** The projector failed for good: whoever waits to read hears why, at once. */
  protected fail(error: Error): void {
    this.failure = error;
    const waiters = this.caughtUpWaiters;
    this.caughtUpWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  /** Nobody may take a stopped follower's state for a caught-up one. */
  protected rejectAll(): void {
    for (const waiter of this.caughtUpWaiters) waiter.reject(new ProjectionRebuildingError('projections', 0));
    for (const waiter of this.positionWaiters) waiter.reject(new ProjectionLagError(waiter.commit, 0));
    this.caughtUpWaiters = [];
    this.positionWaiters = [];
  }

  private wait<W extends Waiter>(
    makeWaiter: (settle: Waiter) => W,
    timeoutMs: number,
    timedOut: () => Error,
    list: W[],
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = makeWaiter({
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      const timer = setTimeout(() => {
        // The list may have been replaced since (settled waiters are dropped); withdraw from both.
        this.positionWaiters = this.positionWaiters.filter((w) => w !== (waiter as unknown));
        this.caughtUpWaiters = this.caughtUpWaiters.filter((w) => w !== waiter);
        reject(timedOut());
      }, timeoutMs);
      list.push(waiter);
    });
  }
}
