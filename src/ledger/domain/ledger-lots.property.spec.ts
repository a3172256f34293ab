import fc from 'fast-check';
import { isDomainError } from './domain-error';
import { decideWithResult } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import type { LedgerEvent } from './ledger.events';
import { lotsOf } from './ledger.queries';
import { fromSnapshot, ledgerImage, toSnapshot } from './ledger.snapshot';
import { evolve, initialLedgerState, type LedgerState } from './ledger.state';
import { NOW, command, openParent } from './testing/ledger-fixtures';

/*
 * Random interleavings of purchases (with priorities and expiries), allocations, usage (some of it
 * late), returns, reversals, recurring allocations, period closes and expiries, through decide and
 * evolve as the command processor runs them. After every command: the lots' portions add up to the pool
 * and the quotas, no portion is negative, used credits never expire, no usage is reversed beyond its
 * credits; and the same log, folded again (or from a snapshot), burns the same way.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SUBS = ['a', 'b', 'c'];

type Build = (now: Date, state: LedgerState, usageIds: readonly string[]) => LedgerCommand;
type Step = { advanceMs: number; build: Build };

const sub = fc.constantFrom(...SUBS);
const credits = fc.oneof(fc.integer({ min: 1, max: 60 }), fc.constantFrom(1, 100, 500));

const step: fc.Arbitrary<Step> = fc.record({
  advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 * DAY })),
  build: fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          credits,
          fc.constantFrom(10, 50, 90),
          fc.option(fc.integer({ min: 1, max: 12 * DAY }), { nil: undefined }),
        )
        .map(
          ([amount, priority, expiresInMs]): Build =>
            (now) =>
              command(
                'PurchaseCredits',
                {
                  credits: amount * 10,
                  priority,
                  ...(expiresInMs === undefined
                    ? {}
                    : { expiresAt: new Date(now.getTime() + expiresInMs).toISOString() }),
                },
                now,
              ),
        ),
    },
    {
      weight: 2,
      arbitrary: sub.map(
        (id): Build =>
          (now) =>
            command('CreateSubAccount', { subAccountId: id, name: id, billingModel: 'bill-to-parent' }, now),
      ),
    },
    {
      weight: 4,
      arbitrary: fc.tuple(sub, credits).map(
        ([id, amount]): Build =>
          (now) =>
            command('AllocateQuota', { subAccountId: id, credits: amount }, now),
      ),
    },
    {
      weight: 5,
      arbitrary: fc.tuple(sub, credits, fc.integer({ min: 0, max: 60 * HOUR })).map(
        ([id, amount, backMs]): Build =>
          (now, _state, usageIds) =>
            command(
              'RecordUsage',
              {
                subAccountId: id,
                usageId: `u${usageIds.length}-${now.getTime()}`,
                idempotencyKey: `k${usageIds.length}-${now.getTime()}`,
                credits: amount,
                occurredAt: new Date(now.getTime() - backMs).toISOString(),
              },
              now,
            ),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(sub, fc.option(credits, { nil: undefined })).map(
        ([id, amount]): Build =>
          (now) =>
            command(
              'ReturnCredits',
              amount === undefined ? { subAccountId: id } : { subAccountId: id, credits: amount },
              now,
            ),
      ),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(sub, fc.nat(), fc.option(credits, { nil: undefined }), fc.constantFrom('r1', 'r2', 'r3'))
        .map(
          ([id, pick, amount, key]): Build =>
            (now, _state, usageIds) =>
              command(
                'ReverseUsage',
                {
                  subAccountId: id,
                  usageId: usageIds.length === 0 ? 'none' : usageIds[pick % usageIds.length],
                  reversalId: `rev-${now.getTime()}-${pick}`,
                  idempotencyKey: key,
                  reason: 'correction',
                  ...(amount === undefined ? {} : { credits: amount }),
                },
                now,
              ),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(sub, fc.option(credits, { nil: null })).map(
        ([id, amount]): Build =>
          (now) =>
            command('SetRecurringAllocation', { subAccountId: id, credits: amount }, now),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(0, 48 * HOUR).map(
        (graceMs): Build =>
          (now) =>
            command('ExpireCredits', { graceMs }, now),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constant((now: Date) => command('RenewRecurringAllocations', {}, now)),
    },
    {
      weight: 1,
      arbitrary: fc.constant((now: Date) => {
        const previous = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
        return command('CloseBillingPeriod', { period: previous.toISOString().slice(0, 7) }, now);
      }),
    },
  ),
});

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/** The lots' portions against the pool and the quotas; none negative; every credit of a lot accounted for. */
function checkPortions(state: LedgerState): void {
  const parent = state.parent!;
  for (const lot of state.lots.values()) {
    for (const figure of [lot.pool, lot.inQuotas, lot.used, lot.expired])
      expect(figure).toBeGreaterThanOrEqual(0);
    expect(lot.pool + lot.inQuotas + lot.used + lot.expired).toBe(lot.credits);
  }
  expect(sum([...state.lots.values()].map((lot) => lot.pool))).toBe(
    parent.purchased - parent.allocated - parent.expired,
  );
  let quotas = 0;
  for (const subAccount of state.subAccounts.values()) {
    const holdings = [...subAccount.lots.values()];
    for (const holding of holdings) {
      expect(holding.unused).toBeGreaterThanOrEqual(0);
      expect(holding.used).toBeGreaterThanOrEqual(0);
    }
    expect(sum(holdings.map((h) => h.unused))).toBe(subAccount.quota - subAccount.used);
    expect(sum(holdings.map((h) => h.used))).toBe(subAccount.used);
    quotas += subAccount.quota;
  }
  expect(quotas).toBe(parent.allocated);
  expect(sum([...state.lots.values()].map((lot) => lot.inQuotas + lot.used))).toBe(parent.allocated);
}

describe('credit lots: properties over random interleavings', () => {
  it('portions add up, none negative, used credits never expire, reversals stay within their usage, the log burns alike', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 30, maxLength: 120 }), fc.nat(), (steps, snapshotAt) => {
        const state = initialLedgerState();
        const log: LedgerEvent[] = [];
        const usageIds: string[] = [];
        const usageCredits = new Map<string, number>();
        const reversedCredits = new Map<string, number>();
        const apply = (events: readonly LedgerEvent[]) => {
          for (const event of events) {
            evolve(state, event);
            log.push(event);
          }
        };
        apply(decideWithResult(openParent(), state).events);
        let now = NOW.getTime();
        for (const [index, { advanceMs, build }] of steps.entries()) {
          now += advanceMs;
          const next = build(new Date(now), state, usageIds);
          if (index === snapshotAt % steps.length) {
            // A state restored from a snapshot decides exactly as the one it was taken from.
            const restored = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state))));
            const outcome = (from: LedgerState) => {
              try {
                return decideWithResult(next, from);
              } catch (error) {
                return isDomainError(error) ? error.code : error;
              }
            };
            expect(outcome(restored)).toEqual(outcome(state));
          }
          let events: readonly LedgerEvent[];
          try {
            events = decideWithResult(next, state).events;
          } catch (error) {
            if (!isDomainError(error)) throw error;
            continue;
          }
          const usedBefore = new Map([...state.subAccounts].map(([id, s]) => [id, s.used]));
          apply(events);
          for (const event of events) {
            if (event.type === 'UsageRecorded') {
              usageIds.push(event.data.usageId);
              usageCredits.set(event.data.usageId, event.data.credits);
            }
            if (event.type === 'UsageReversed') {
              const total = (reversedCredits.get(event.data.usageId) ?? 0) + event.data.credits;
              reversedCredits.set(event.data.usageId, total);
              expect(total).toBeLessThanOrEqual(usageCredits.get(event.data.usageId)!);
            }
            if (event.type === 'CreditsExpired') {
              for (const [id, used] of usedBefore) expect(state.subAccounts.get(id)!.used).toBe(used);
            }
          }
          checkPortions(state);
        }
        // The same log, folded again from nothing, holds the same lots and portions.
        const again = initialLedgerState();
        for (const event of log) evolve(again, event);
        expect(ledgerImage(again)).toEqual(ledgerImage(state));
        expect(lotsOf(again)).toEqual(lotsOf(state));
      }),
      { numRuns: 150 },
    );
  });
});
