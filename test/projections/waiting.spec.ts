import { ProjectionLagError, ProjectionRebuildingError } from '../../src/projections/projection.errors';
import { CaughtUpGate, PositionWaiters } from '../../src/projections/waiting';

/** Which of the promises have settled, and how, after the microtasks queued so far have run. */
async function outcomes(promises: Promise<void>[]): Promise<string[]> {
  const seen = promises.map(() => 'pending');
  promises.forEach((promise, i) =>
    promise.then(
      () => (seen[i] = 'resolved'),
      (error: Error) => (seen[i] = error.constructor.name),
    ),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return seen;
}

describe('PositionWaiters', () => {
  it('releases exactly the waiters at or below the committed position, and keeps the rest', async () => {
    const waiters = new PositionWaiters();
    const promises = [5n, 10n, 11n, 20n].map((commit) => waiters.wait(commit, 60_000));
    waiters.release(10n);
    expect(await outcomes(promises)).toEqual(['resolved', 'resolved', 'pending', 'pending']);
    waiters.release(20n);
    expect(await outcomes(promises)).toEqual(['resolved', 'resolved', 'resolved', 'resolved']);
  });

  it('refuses a zero timeout at once and a lapsed one with ProjectionLagError, withdrawing the waiter', async () => {
    const waiters = new PositionWaiters();
    await expect(waiters.wait(3n, 0)).rejects.toBeInstanceOf(ProjectionLagError);
    const late = waiters.wait(4n, 20);
    await expect(late).rejects.toBeInstanceOf(ProjectionLagError);
    const kept = waiters.wait(4n, 60_000);
    waiters.release(4n);
    expect(await outcomes([kept])).toEqual(['resolved']);
  });

  it('turns every waiter away on rejectAll, and a later release settles nothing twice', async () => {
    const waiters = new PositionWaiters();
    const promises = [1n, 2n].map((commit) => waiters.wait(commit, 60_000));
    waiters.rejectAll();
    expect(await outcomes(promises)).toEqual(['ProjectionLagError', 'ProjectionLagError']);
    waiters.release(2n);
    expect(await outcomes(promises)).toEqual(['ProjectionLagError', 'ProjectionLagError']);
  });
});

describe('CaughtUpGate', () => {
  it('holds waiters until it opens, then answers at once; a zero timeout is a check', async () => {
    const gate = new CaughtUpGate();
    await expect(gate.wait(0, 'balances')).rejects.toBeInstanceOf(ProjectionRebuildingError);
    const waiting = gate.wait(60_000, 'balances');
    expect(await outcomes([waiting])).toEqual(['pending']);
    expect(gate.open()).toBe(true);
    expect(gate.open()).toBe(false);
    expect(await outcomes([waiting, gate.wait(0, 'balances')])).toEqual(['resolved', 'resolved']);
  });

  it('refuses its waiters on a stop', async () => {
    const gate = new CaughtUpGate();
    const waiting = gate.wait(60_000, 'balances');
    gate.refuse(new ProjectionRebuildingError('projections', 0));
    expect(await outcomes([waiting])).toEqual(['ProjectionRebuildingError']);
  });
});
