import { ProjectionRebuildingError } from '../projection.errors';
import type { AnyProjection } from '../projection';
import { ReadModelProgress, type ProjectionStatus } from '../read-model-progress';
import { CaughtUpGate, PositionWaiters } from '../waiting';

/**
 * The read models' progress as the API's thread learns it from a projector that runs elsewhere (a
 * worker thread, or a process of its own through the checkpoint rows): the committed position only ever
 * moves forward, and the waiters of read-your-writes and of readiness are settled here, on this thread,
 * without a round trip per request.
 */
export abstract class FollowedProgress extends ReadModelProgress {
  private committed: bigint | null = null;
  private readonly caughtUp = new CaughtUpGate();
  private reported: ProjectionStatus[];
  private readonly positionWaiters = new PositionWaiters();

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
    return this.caughtUp.isOpen;
  }

  whenCaughtUp(timeoutMs: number, projectionName = 'projections'): Promise<void> {
    return this.caughtUp.wait(timeoutMs, projectionName);
  }

  waitForPosition(commitPosition: bigint, timeoutMs: number): Promise<void> {
    if (this.committed !== null && this.committed >= commitPosition) return Promise.resolve();
    if (timeoutMs > 0) this.wanted(commitPosition);
    return this.positionWaiters.wait(commitPosition, timeoutMs);
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
    this.positionWaiters.release(commit);
  }

  protected markCaughtUp(): void {
    this.caughtUp.open();
  }

  protected report(status: ProjectionStatus[]): void {
    this.reported = status;
  }

  /** Nobody may take a stopped follower's state for a caught-up one. */
  protected rejectAll(): void {
    this.caughtUp.refuse(new ProjectionRebuildingError('projections', 0));
    this.positionWaiters.rejectAll();
  }
}
