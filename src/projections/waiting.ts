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
