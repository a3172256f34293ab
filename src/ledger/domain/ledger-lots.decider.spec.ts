import { decide, decideReversal } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import type { LedgerEvent } from './ledger.events';
import { invoicesOfOpenPeriod } from './ledger.invoices';
import { lotsOf, subAccountView } from './ledger.queries';
import { fromSnapshot, ledgerImage, toSnapshot } from './ledger.snapshot';
import { evolve, initialLedgerState } from './ledger.state';
import {
  NOW,
  allocate,
  closePeriod,
  command,
  createSub,
  historyOf,
  openParent,
  returnCredits,
  spec,
  stateOf,
  useCredits,
} from './testing/ledger-fixtures';

/*
 * SPEC §10 on the decider, given/when/then: lots and their burn order, expiry with grace, recurring
 * allocations and usage reversals. NOW is 2026-10-15T12:00Z; 2026-09 has ended.
 */

const HOUR = 3_600_000;
const GRACE = 48 * HOUR;
const at = (iso: string) => new Date(iso);

const buy = (
  credits: number,
  extra: { kind?: string; expiresAt?: string; priority?: number; reference?: string } = {},
  now: Date = NOW,
) => command('PurchaseCredits', { credits, ...extra }, now);
const expire = (now: Date, graceMs = GRACE) => command('ExpireCredits', { graceMs }, now);
const renew = (now: Date) => command('RenewRecurringAllocations', {}, now);
const recurring = (subAccountId: string, credits: number | null, now: Date = NOW) =>
  command('SetRecurringAllocation', { subAccountId, credits }, now);
const reverse = (
  usageId: string,
  idempotencyKey: string,
  credits?: number,
  now: Date = NOW,
  subAccountId = 'a',
) =>
  command(
    'ReverseUsage',
    {
      subAccountId,
      usageId,
      reversalId: `rev-${idempotencyKey}`,
      idempotencyKey,
      reason: 'metered twice',
      ...(credits === undefined ? {} : { credits }),
    },
    now,
  );

/**
 * The recurring allocation of 100 credits to 'a' from the one lot of a parent that bought 1,000 and
 * allocated nothing else: `quota` and `used` after it.
 */
function recurringAllocated({ quota, used }: { quota: number; used: number }, period: string): LedgerEvent {
  return {
    type: 'QuotaAllocated',
    data: {
      subAccountId: 'a',
      credits: 100,
      reason: 'recurring',
      balancesAfter: {
        subAccount: { quota, used, remaining: quota - used },
        pool: { purchased: 1_000, allocated: quota, available: 1_000 - quota, used, expired: 0 },
      },
      portions: [{ lotId: 'lot-1', credits: 100 }],
      period,
    },
  };
}

/** What `next` decides after `history` (for checks that need jest's matchers). */
function decidedAfter(history: readonly LedgerCommand[], next: LedgerCommand): LedgerEvent[] {
  return decide(next, stateOf(...history));
}

/** The portions an event of `type` moved, in the order decided. */
function portionsOf(events: readonly LedgerEvent[], type: LedgerEvent['type']) {
  return events
    .filter((event) => event.type === type)
    .map((event) => (event.data as { portions?: unknown }).portions);
}

describe('ledger decider: credit lots (SPEC §10)', () => {
  describe('PurchaseCredits', () => {
    it('creates a lot with its kind, expiry and priority; defaults are paid, none and 50', () => {
      const [granted] = historyOf(
        openParent(),
        buy(500, { kind: 'granted', expiresAt: '2026-11-01T00:00:00Z', priority: 5, reference: 'promo' }),
      ).slice(-1);
      expect(granted).toMatchObject({
        type: 'CreditsPurchased',
        data: { lotId: 'lot-1', kind: 'granted', expiresAt: '2026-11-01T00:00:00.000Z', priority: 5 },
        metadata: { schemaVersion: 2 },
      });
      const [paid] = historyOf(openParent(), buy(1), buy(2)).slice(-1);
      expect(paid.data).toMatchObject({ lotId: 'lot-2', kind: 'paid', expiresAt: null, priority: 50 });
    });

    it.each([
      [{ priority: 101 }],
      [{ priority: -1 }],
      [{ priority: 1.5 }],
      [{ kind: 'free' }],
      [{ expiresAt: 'soon' }],
      [{ expiresAt: NOW.toISOString() }],
    ])('refuses %p', (extra) => {
      spec
        .given(historyOf(openParent()))
        .when(buy(10, extra as never))
        .thenFails('validation_failed');
    });

    it('reads a purchase recorded before lots as a paid lot without expiry, named by its revision', () => {
      const state = initialLedgerState();
      for (const event of historyOf(openParent())) evolve(state, event);
      evolve(state, {
        type: 'CreditsPurchased',
        data: {
          credits: 70,
          reference: null,
          purchasedAt: NOW.toISOString(),
          balancesAfter: { pool: { purchased: 70, allocated: 0, available: 70, used: 0 } },
        },
      });
      evolve(state, { type: 'SubAccountCreated', data: subCreated('a') });
      evolve(state, {
        type: 'QuotaAllocated',
        data: {
          subAccountId: 'a',
          credits: 30,
          reason: 'allocation',
          balancesAfter: {
            subAccount: { quota: 30, used: 0, remaining: 30 },
            pool: { purchased: 70, allocated: 30, available: 40, used: 0 },
          },
        },
      });
      expect(lotsOf(state)).toEqual([
        expect.objectContaining({ lotId: 'lot-r2', kind: 'paid', expiresAt: null, inPool: 40, inQuotas: 30 }),
      ]);
    });
  });

  describe('burn order', () => {
    it('goes by priority, then expiresAt (none last), then purchase time, then lotId', () => {
      const state = stateOf(
        openParent(),
        buy(10, {}, at('2026-10-15T10:00:00Z')),
        buy(10, { expiresAt: '2026-12-01T00:00:00Z' }, at('2026-10-15T11:00:00Z')),
        buy(10, { expiresAt: '2026-11-01T00:00:00Z' }, at('2026-10-15T11:00:00Z')),
        buy(10, { priority: 1 }, at('2026-10-15T11:30:00Z')),
        buy(10, {}, at('2026-10-15T09:00:00Z')),
        buy(10, {}, at('2026-10-15T09:00:00Z')),
      );
      expect(lotsOf(state).map((lot) => lot.lotId)).toEqual([
        'lot-4',
        'lot-3',
        'lot-2',
        'lot-5',
        'lot-6',
        'lot-1',
      ]);
    });

    it('allocates from the pool in burn order, uses a quota in burn order and returns what would burn last', () => {
      const history = historyOf(
        openParent(),
        buy(100),
        buy(50, { priority: 10, expiresAt: '2026-11-01T00:00:00Z' }),
        createSub('a', { quota: 120 }),
        useCredits('a', 'k1', 60),
        returnCredits('a', 40),
      );
      expect(portionsOf(history, 'QuotaAllocated')).toEqual([
        [
          { lotId: 'lot-2', credits: 50 },
          { lotId: 'lot-1', credits: 70 },
        ],
      ]);
      expect(portionsOf(history, 'UsageRecorded')).toEqual([
        [
          { lotId: 'lot-2', credits: 50 },
          { lotId: 'lot-1', credits: 10 },
        ],
      ]);
      expect(portionsOf(history, 'CreditsReturned')).toEqual([[{ lotId: 'lot-1', credits: 40 }]]);
    });

    it('closing a sub-account gives back every unused portion', () => {
      const [closed] = decidedAfter(
        [openParent(), buy(100), buy(50, { priority: 10 }), createSub('a', { quota: 120 })],
        command('CloseSubAccount', { subAccountId: 'a' }),
      );
      expect(closed.data).toMatchObject({
        returnedCredits: 120,
        portions: [
          { lotId: 'lot-1', credits: 70 },
          { lotId: 'lot-2', credits: 50 },
        ],
      });
    });

    it('allocates nothing from a lot past its expiresAt, even during its grace', () => {
      const history = historyOf(
        openParent(),
        buy(100, { expiresAt: '2026-10-16T00:00:00Z' }),
        createSub('a'),
      );
      spec
        .given(history)
        .when(command('AllocateQuota', { subAccountId: 'a', credits: 1 }, at('2026-10-16T00:00:00Z')))
        .thenFails('insufficient_pool', /0 available/);
    });
  });

  describe('expiry with grace', () => {
    const expiring = [
      openParent(),
      buy(100, { expiresAt: '2026-10-20T00:00:00Z', priority: 10 }),
      buy(100),
      createSub('a', { quota: 150 }),
      useCredits('a', 'k1', 30),
    ];

    it('lets late usage that occurred before expiresAt use the lot during the grace period', () => {
      const history = historyOf(...expiring);
      const late = useCredits(
        'a',
        'k2',
        70,
        { occurredAt: '2026-10-19T23:00:00Z' },
        at('2026-10-21T00:00:00Z'),
      );
      const [event] = historyOf(...expiring, late).slice(-1);
      expect(event.data).toMatchObject({ portions: [{ lotId: 'lot-1', credits: 70 }] });
      // Usage that occurred after expiresAt takes nothing of the lot; the quota's other lot covers 50.
      spec
        .given(history)
        .when(useCredits('a', 'k3', 71, { occurredAt: '2026-10-20T00:00:00Z' }, at('2026-10-21T00:00:00Z')))
        .thenFails('insufficient_quota', /not expired/);
    });

    it('expires nothing before expiresAt plus grace', () => {
      spec
        .given(historyOf(...expiring))
        .when(expire(at('2026-10-21T23:59:59Z')))
        .thenNothingHappens();
    });

    it("expires what is left in the pool and the quotas' unused part, never used credits", () => {
      spec
        .given(historyOf(...expiring))
        .when(expire(at('2026-10-22T00:00:00Z')))
        .then([
          {
            type: 'CreditsExpired',
            data: {
              lotId: 'lot-1',
              expiresAt: '2026-10-20T00:00:00.000Z',
              expiredAt: '2026-10-22T00:00:00.000Z',
              credits: 70,
              fromPool: 0,
              fromSubAccounts: [
                { subAccountId: 'a', credits: 70, balancesAfter: { quota: 80, used: 30, remaining: 50 } },
              ],
              balancesAfter: {
                pool: { purchased: 200, allocated: 80, available: 50, used: 30, expired: 70 },
              },
            },
          },
        ]);
    });

    it('records a second expiry as nothing, and a lot used up lapses once with 0 credits', () => {
      const expired = historyOf(...expiring, expire(at('2026-10-22T00:00:00Z')));
      spec
        .given(expired)
        .when(expire(at('2026-10-23T00:00:00Z')))
        .thenNothingHappens();
      const usedUp = historyOf(
        openParent(),
        buy(10, { expiresAt: '2026-10-20T00:00:00Z' }),
        createSub('a', { quota: 10 }),
        useCredits('a', 'k1', 10),
      );
      spec
        .given(usedUp)
        .when(expire(at('2026-10-25T00:00:00Z')))
        .then([
          {
            type: 'CreditsExpired',
            data: {
              lotId: 'lot-1',
              expiresAt: '2026-10-20T00:00:00.000Z',
              expiredAt: '2026-10-25T00:00:00.000Z',
              credits: 0,
              fromPool: 0,
              fromSubAccounts: [],
              balancesAfter: { pool: { purchased: 10, allocated: 10, available: 0, used: 10, expired: 0 } },
            },
          },
        ]);
      spec
        .given(
          historyOf(
            openParent(),
            buy(10, { expiresAt: '2026-10-20T00:00:00Z' }),
            expire(at('2026-10-25T00:00:00Z')),
          ),
        )
        .when(expire(at('2026-10-26T00:00:00Z')))
        .thenNothingHappens();
    });

    it('shows a sub-account its expiring credits per expiresAt', () => {
      const state = stateOf(...expiring);
      expect(subAccountView(state, 'a', NOW).expiring).toEqual([
        { expiresAt: '2026-10-20T00:00:00.000Z', credits: 70 },
      ]);
    });
  });

  describe('recurring allocations', () => {
    const funded = [openParent(), buy(1_000), createSub('a')];

    it('allocates the current period at once when set, and from the next period when changed', () => {
      spec
        .given(historyOf(...funded))
        .when(recurring('a', 100))
        .then([
          {
            type: 'RecurringAllocationSet',
            data: { subAccountId: 'a', credits: 100, setAt: NOW.toISOString() },
          },
          recurringAllocated({ quota: 100, used: 0 }, '2026-10'),
        ]);
      spec
        .given(historyOf(...funded, recurring('a', 100)))
        .when(recurring('a', 150))
        .then([
          {
            type: 'RecurringAllocationSet',
            data: { subAccountId: 'a', credits: 150, setAt: NOW.toISOString() },
          },
        ]);
    });

    it('at a period start gives back the unused part of the last one, then allocates again; once', () => {
      const history = [...funded, recurring('a', 100), useCredits('a', 'k1', 30), allocate('a', 50)];
      const november = at('2026-11-01T00:05:00Z');
      expect(decidedAfter(history, renew(november))).toEqual([
        {
          type: 'CreditsReturned',
          data: {
            subAccountId: 'a',
            credits: 100,
            reason: 'period-reset',
            balancesAfter: {
              subAccount: { quota: 50, used: 30, remaining: 20 },
              pool: { purchased: 1_000, allocated: 50, available: 950, used: 30, expired: 0 },
            },
            portions: [{ lotId: 'lot-1', credits: 100 }],
          },
        },
        recurringAllocated({ quota: 150, used: 30 }, '2026-11'),
      ]);
      spec
        .given(historyOf(...funded, recurring('a', 100), renew(november)))
        .when(renew(november))
        .thenNothingHappens();
    });

    it('records only RecurringAllocationFailed when the pool cannot cover it, and refuses such a PUT', () => {
      const november = at('2026-11-01T00:00:00Z');
      // The unused part going back covers the next one: the pool is empty, but 60 come back first.
      const unused = [
        openParent(),
        buy(100),
        createSub('a'),
        recurring('a', 60),
        createSub('b', { quota: 40 }),
      ];
      expect(decidedAfter(unused, renew(november)).map((event) => event.type)).toEqual([
        'CreditsReturned',
        'QuotaAllocated',
      ]);
      // All of it used and the pool empty: only the failure is recorded.
      spec
        .given(historyOf(...unused.slice(0, 4), useCredits('a', 'k', 60), unused[4]))
        .when(renew(november))
        .then([
          {
            type: 'RecurringAllocationFailed',
            data: {
              subAccountId: 'a',
              period: '2026-11',
              credits: 60,
              available: 0,
              failedAt: november.toISOString(),
            },
          },
        ]);
      spec
        .given(historyOf(...unused.slice(0, 4), useCredits('a', 'k', 60), unused[4], renew(november)))
        .when(renew(at('2026-11-20T00:00:00Z')))
        .thenNothingHappens();
      spec
        .given(historyOf(...unused))
        .when(recurring('b', 50))
        .thenFails('insufficient_pool');
    });

    it('stops with null: nothing happens at the next period start', () => {
      const stopped = historyOf(...funded, recurring('a', 100), recurring('a', null));
      expect(stopped.slice(-1)[0]).toEqual({
        type: 'RecurringAllocationSet',
        data: { subAccountId: 'a', credits: null, setAt: NOW.toISOString() },
      });
      spec
        .given(stopped)
        .when(renew(at('2026-11-01T00:00:00Z')))
        .thenNothingHappens();
    });
  });

  describe('usage reversals', () => {
    const used = [
      openParent(),
      buy(1_000),
      createSub('a', { quota: 500 }),
      useCredits('a', 'k1', 100, { meter: 'api' }),
    ];

    it('gives the credits back to the quota, linked to the usage, and the open draft loses them', () => {
      const history = historyOf(...used);
      const state = stateOf(...used);
      const decision = decideReversal(reverse('usage-k1', 'r1', 40), state);
      expect(decision.result).toEqual({
        reversalId: 'rev-r1',
        usageId: 'usage-k1',
        credits: 40,
        remaining: 440,
        replayed: false,
      });
      expect(decision.events).toEqual([
        expect.objectContaining({
          type: 'UsageReversed',
          data: expect.objectContaining({
            usageId: 'usage-k1',
            credits: 40,
            originalPeriod: '2026-10',
            creditLine: null,
            portions: [{ lotId: 'lot-1', credits: 40 }],
            balancesAfter: {
              subAccount: { quota: 500, used: 60, remaining: 440 },
              pool: { purchased: 1_000, allocated: 500, available: 500, used: 60, expired: 0 },
            },
          }),
          metadata: { $causationId: 'usage-k1' },
        }),
      ]);
      const after = stateOf(...used, reverse('usage-k1', 'r1', 40));
      const [draft] = invoicesOfOpenPeriod(after, '2026-10', NOW);
      expect(draft.sections[0].lines).toEqual([expect.objectContaining({ meter: 'api', credits: '60' })]);
      expect(history).toHaveLength(used.length + 2);
    });

    it('never reverses more than the usage; a repeat answers the first, a different payload conflicts', () => {
      const partly = historyOf(...used, reverse('usage-k1', 'r1', 40));
      spec
        .given(partly)
        .when(reverse('usage-k1', 'r2', 61))
        .thenFails('reversal_exceeds_usage');
      spec
        .given(partly)
        .when(reverse('usage-k1', 'r1', 40))
        .thenNothingHappens();
      spec
        .given(partly)
        .when(reverse('usage-k1', 'r1', 41))
        .thenFails('idempotency_conflict');
      const all = historyOf(...used, reverse('usage-k1', 'r1', 40), reverse('usage-k1', 'r2'));
      expect(all.slice(-1)[0].data).toMatchObject({ credits: 60 });
      spec
        .given(all)
        .when(reverse('usage-k1', 'r3'))
        .thenFails('reversal_exceeds_usage', /0 of its 100/);
      spec
        .given(historyOf(...used))
        .when(reverse('usage-nope', 'r1'))
        .thenFails('not_found');
      spec
        .given(historyOf(...used, createSub('b')))
        .when(reverse('usage-k1', 'r1', 1, NOW, 'b'))
        .thenFails('not_found');
    });

    it("credits a closed period's usage on the next period's invoice at its price, naming the invoice", () => {
      const closed = [...used, closePeriod('2026-10', at('2026-11-02T00:00:00Z'))];
      const later = at('2026-11-03T00:00:00Z');
      const [event] = historyOf(...closed, reverse('usage-k1', 'r1', 25, later)).slice(-1);
      expect(event.data).toMatchObject({
        originalPeriod: '2026-10',
        creditLine: { period: '2026-11', originalInvoiceId: 'inv-acme-2026-10-parent', unitPrice: '0.001' },
      });
      const state = stateOf(...closed, reverse('usage-k1', 'r1', 25, later));
      const [november] = invoicesOfOpenPeriod(state, '2026-11', later);
      expect(november.sections[0].creditLines).toEqual([
        {
          meter: 'api',
          unitPrice: '0.001',
          credits: '25',
          // 25 × 0.001 = 0.025 EUR, rounded half-even like every line.
          amountMinor: '-2',
          amount: '-0.02',
          usageId: 'usage-k1',
          originalPeriod: '2026-10',
          originalInvoiceId: 'inv-acme-2026-10-parent',
        },
      ]);
      expect(november.totalMinor).toBe('-2');
    });
  });

  it('a snapshot carries the lots, holdings, recurring allocations and reversible usage', () => {
    const state = stateOf(
      openParent(),
      buy(100, { expiresAt: '2026-10-20T00:00:00Z', priority: 10 }),
      buy(100),
      createSub('a', { quota: 150 }),
      recurring('a', 20),
      useCredits('a', 'k1', 30),
      reverse('usage-k1', 'r1', 5),
      expire(at('2026-10-25T00:00:00Z')),
    );
    const restored = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state))));
    expect(ledgerImage(restored)).toEqual(ledgerImage(state));
    expect(lotsOf(restored)).toEqual(lotsOf(state));
    expect(decideReversal(reverse('usage-k1', 'r2'), restored)).toEqual(
      decideReversal(reverse('usage-k1', 'r2'), state),
    );
    expect(restored.subAccounts.get('a')?.recurring).toEqual(state.subAccounts.get('a')?.recurring);
  });
});

function subCreated(subAccountId: string) {
  return {
    subAccountId,
    name: subAccountId,
    region: null,
    billingModel: 'bill-to-parent' as const,
    creditPrice: null,
    createdAt: NOW.toISOString(),
  };
}
