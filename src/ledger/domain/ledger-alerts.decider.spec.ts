import { decide, decideUsage } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import type { LedgerEvent } from './ledger.events';
import { fromSnapshot, ledgerImage, toSnapshot } from './ledger.snapshot';
import {
  NOW,
  allocate,
  command,
  createSub,
  historyOf,
  openParent,
  purchase,
  spec,
  stateOf,
  useCredits,
} from './testing/ledger-fixtures';

/*
 * SPEC §11's alerts on the decider: QuotaThresholdReached at the parent's thresholds (80 % and 100 % of
 * quota by default), decided with the usage that crosses them, once per crossing and re-armed when the
 * sub-account is back under them; PoolBalanceLow when an event takes the pool below its floor.
 */

const alerts = (...fields: { alertThresholds?: number[]; lowPoolThreshold?: number | null }[]) =>
  command('UpdateParentAccount', Object.assign({}, ...fields));
const reached = (subAccountId: string, threshold: number, quota: number, used: number): LedgerEvent => ({
  type: 'QuotaThresholdReached',
  data: { subAccountId, threshold, quota, used },
});

/** The alerts among what `next` decides after `history`. */
function alertsOf(history: readonly LedgerCommand[], next: LedgerCommand): LedgerEvent[] {
  return decide(next, stateOf(...history)).filter(
    (event) => event.type === 'QuotaThresholdReached' || event.type === 'PoolBalanceLow',
  );
}

describe('ledger decider: alerts (SPEC §11)', () => {
  const funded = [openParent(), purchase(10_000), createSub('a', { quota: 1_000 })];

  it('records QuotaThresholdReached with the usage that crosses 80 %, then 100 %, once each', () => {
    const [recorded, alert] = decideUsage(useCredits('a', 'k1', 800), stateOf(...funded)).events;
    expect(recorded.type).toBe('UsageRecorded');
    expect(alert).toEqual(reached('a', 80, 1_000, 800));
    expect(alertsOf([...funded, useCredits('a', 'k1', 800)], useCredits('a', 'k2', 100))).toEqual([]);
    expect(alertsOf([...funded, useCredits('a', 'k1', 800)], useCredits('a', 'k2', 200))).toEqual([
      reached('a', 100, 1_000, 1_000),
    ]);
  });

  it('re-arms a threshold when a top-up lifts the sub-account back under it, recording nothing for that', () => {
    const crossed = [...funded, useCredits('a', 'k1', 850)];
    // The top-up itself records no "recovered" event: its QuotaAllocated states the balances.
    expect(decide(allocate('a', 500), stateOf(...crossed)).map((event) => event.type)).toEqual([
      'QuotaAllocated',
    ]);
    // 850 of 1,500 is under 80 %: the next crossing alerts again.
    expect(alertsOf([...crossed, allocate('a', 500)], useCredits('a', 'k2', 350))).toEqual([
      reached('a', 80, 1_500, 1_200),
    ]);
    // Still above it after a smaller top-up: no second alert.
    expect(alertsOf([...crossed, allocate('a', 10)], useCredits('a', 'k2', 5))).toEqual([]);
  });

  it('re-arms a threshold when a reversal takes usage back under it', () => {
    const crossed = [...funded, useCredits('a', 'k1', 850)];
    const reversal = command('ReverseUsage', {
      subAccountId: 'a',
      usageId: 'usage-k1',
      reversalId: 'rev-1',
      idempotencyKey: 'r1',
      reason: 'metered twice',
      credits: 100,
    });
    expect(alertsOf([...crossed, reversal], useCredits('a', 'k2', 60))).toEqual([
      reached('a', 80, 1_000, 810),
    ]);
  });

  it("follows the parent's own thresholds; one already passed when set is not a crossing", () => {
    spec
      .given(historyOf(...funded))
      .when(alerts({ alertThresholds: [90, 50] }))
      .then([
        {
          type: 'AlertThresholdsChanged',
          data: { alertThresholds: [50, 90], lowPoolThreshold: null, changedAt: NOW.toISOString() },
        },
      ]);
    const set = [...funded, alerts({ alertThresholds: [50, 90] })];
    expect(alertsOf(set, useCredits('a', 'k1', 600))).toEqual([reached('a', 50, 1_000, 600)]);
    const passed = [...funded, useCredits('a', 'k1', 600), alerts({ alertThresholds: [50] })];
    expect(alertsOf(passed, useCredits('a', 'k2', 10))).toEqual([]);
    expect(alertsOf([...funded, alerts({ alertThresholds: [] })], useCredits('a', 'k1', 1_000))).toEqual([]);
    spec
      .given(historyOf(...set))
      .when(alerts({ alertThresholds: [90, 50] }))
      .thenNothingHappens();
  });

  it.each([[[0]], [[101]], [[80, 80]], [[1.5]], [Array.from({ length: 11 }, (_, i) => i + 1)], ['80']])(
    'refuses alertThresholds %p',
    (alertThresholds) => {
      spec
        .given(historyOf(...funded))
        .when(alerts({ alertThresholds: alertThresholds as number[] }))
        .thenFails('validation_failed');
    },
  );

  it('records PoolBalanceLow with the allocation that takes the pool below its floor, once until it is back up', () => {
    const floored = [...funded, alerts({ lowPoolThreshold: 5_000 })];
    spec
      .given(historyOf(...floored))
      .when(allocate('a', 4_500))
      .then([
        decide(allocate('a', 4_500), stateOf(...floored))[0],
        { type: 'PoolBalanceLow', data: { available: 4_500, threshold: 5_000 } },
      ]);
    const low = [...floored, allocate('a', 4_500)];
    expect(alertsOf(low, allocate('a', 100))).toEqual([]);
    // A purchase lifts it back to the floor: re-armed, and the next fall alerts again.
    expect(alertsOf([...low, purchase(500)], allocate('a', 1))).toEqual([
      { type: 'PoolBalanceLow', data: { available: 4_999, threshold: 5_000 } },
    ]);
    expect(alertsOf([...funded], allocate('a', 8_000))).toEqual([]);
    spec
      .given(historyOf(...low))
      .when(alerts({ lowPoolThreshold: null }))
      .then([
        {
          type: 'AlertThresholdsChanged',
          data: { alertThresholds: [80, 100], lowPoolThreshold: null, changedAt: NOW.toISOString() },
        },
      ]);
    spec
      .given(historyOf(...funded))
      .when(alerts({ lowPoolThreshold: 0 }))
      .thenFails('validation_failed');
  });

  it('records PoolBalanceLow when an expiry takes the pool below its floor', () => {
    const expiring = [
      openParent(),
      command('PurchaseCredits', { credits: 1_000, expiresAt: '2026-10-20T00:00:00Z' }),
      purchase(100),
      alerts({ lowPoolThreshold: 500 }),
    ];
    expect(
      alertsOf(expiring, command('ExpireCredits', { graceMs: 0 }, new Date('2026-10-21T00:00:00Z'))),
    ).toEqual([{ type: 'PoolBalanceLow', data: { available: 100, threshold: 500 } }]);
  });

  it('a snapshot carries the thresholds and what was alerted', () => {
    const state = stateOf(
      ...funded,
      alerts({ alertThresholds: [50], lowPoolThreshold: 9_500 }),
      useCredits('a', 'k1', 600),
    );
    expect(state.subAccounts.get('a')?.alerted).toEqual(new Set([50]));
    const restored = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state))));
    expect(ledgerImage(restored)).toEqual(ledgerImage(state));
    expect(decide(useCredits('a', 'k2', 1), restored)).toEqual(decide(useCredits('a', 'k2', 1), state));
    expect(decide(allocate('a', 1), restored)).toEqual(decide(allocate('a', 1), state));
  });
});
