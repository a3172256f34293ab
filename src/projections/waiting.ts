import { ProjectionLagError, ProjectionRebuildingError } from './projection.errors';

/** Someone waiting for the read models: settled by whoever holds it, or by its timeout. */
export interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** Read-your-writes: waits for everything up to `commit` to be committed. */
export interface PositionWaiter extends Waiter {
  readonly commit: bigint;
}

/**
 * A promise settled by whoever holds its waiter, or rejected with `timedOut()` once `timeoutMs` has
 * passed (the waiter is then withdrawn); settling either way clears the timer.
 */
export function waitWithTimeout<W extends Waiter>(
  makeWaiter: (settle: Waiter) => W,
  timeoutMs: number,
  timedOut: () => Error,
  register: (waiter: W) => void,
  withdraw: (waiter: W) => void,
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
      withdraw(waiter);
      reject(timedOut());
    }, timeoutMs);
    register(waiter);
  });
}

/**
 * Resolves after `ms`, or at once when the function handed to `onWake` is called (it is handed a
 * no-op-after-settling wake; `onWake(null)` is called when the delay ends either way).
 */
export function wakeableDelay(ms: number, onWake: (wake: (() => void) | null) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      onWake(null);
      resolve();
    };
    const timer = setTimeout(done, ms);
    onWake(done);
  });
}

/**
 * Readiness: shut until the read models have caught up with what the log held at start, then open for
 * good. `wait` resolves at once when open, is refused at once for a timeout of 0 (a check), and waits
 * otherwise; `open` releases every waiter, `refuse` turns them all away (a stop, a failure).
 */
export class CaughtUpGate {
  private opened = false;
  private waiters: Waiter[] = [];

  get isOpen(): boolean {
    return this.opened;
  }

  wait(timeoutMs: number, projectionName: string): Promise<void> {
    if (this.opened) return Promise.resolve();
    if (timeoutMs <= 0) return Promise.reject(new ProjectionRebuildingError(projectionName, 0));
    return waitWithTimeout<Waiter>(
      (settle) => settle,
      timeoutMs,
      () => new ProjectionRebuildingError(projectionName, timeoutMs),
      (waiter) => this.waiters.push(waiter),
      (waiter) => (this.waiters = this.waiters.filter((w) => w !== waiter)),
    );
  }

  /** Opens the gate; false when it was open already. */
  open(): boolean {
    if (this.opened) return false;
    this.opened = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve();
    return true;
  }

  refuse(error: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }
}

/**
 * Read-your-writes: the readers waiting for positions not yet committed. `wait` parks one until
 * `release` reports its position committed, or its timeout refuses it with `ProjectionLagError`;
 * `rejectAll` turns every one away (a stop: nobody may take a stopped projector's state for current).
 */
export class PositionWaiters {
  private waiters: PositionWaiter[] = [];

  wait(commit: bigint, timeoutMs: number): Promise<void> {
    if (timeoutMs <= 0) return Promise.reject(new ProjectionLagError(commit, 0));
    return waitWithTimeout<PositionWaiter>(
      (settle) => ({ commit, ...settle }),
      timeoutMs,
      () => new ProjectionLagError(commit, timeoutMs),
      (waiter) => this.waiters.push(waiter),
      (waiter) => (this.waiters = this.waiters.filter((w) => w !== waiter)),
    );
  }

  /** Everything up to `committed` is in the read models: its waiters go on. */
  release(committed: bigint): void {
    if (this.waiters.length === 0) return;
    const still: PositionWaiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.commit <= committed) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  rejectAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(new ProjectionLagError(waiter.commit, 0));
  }
}
