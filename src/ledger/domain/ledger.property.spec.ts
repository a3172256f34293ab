import fc from 'fast-check';
import { isDomainError } from './domain-error';
import { decideWithResult } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import type { BalancesAfter, LedgerEvent, PoolBalancesAfter } from './ledger.events';
import { evolve, initialLedgerState, type LedgerState } from './ledger.state';
import { fromSnapshot, ledgerImage, toSnapshot } from './ledger.snapshot';
import { NOW, command, openParent } from './testing/ledger-fixtures';

/*
 * Random command sequences through decide and evolve, the way the command processor runs them.
 * After every command: rules 1–3 hold in the state, every balance an event states equals an
 * independent recomputation from the credits the events moved, and a refused command (or one
 * that moved nothing) left the state exactly as it was.
 */

const SUB_ACCOUNTS = ['a', 'b', 'c', 'd'];
const KEYS = ['k1', 'k2', 'k3', 'k4'];
const HOUR = 60 * 60 * 1000;

// An amount is either absolute (a few huge, to cross 2^53 in sums if anything could) or an
// offset from the balance the command is judged against, so exact fits and off-by-one
// refusals happen in most runs rather than by luck.
type Amount = { absolute: number } | { offset: number };
const amount: fc.Arbitrary<Amount> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 3_000 }).map((absolute) => ({ absolute })) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 1e12).map((absolute) => ({ absolute })) },
  { weight: 3, arbitrary: fc.integer({ min: -2, max: 2 }).map((offset) => ({ offset })) },
);
const subAccountId = fc.constantFrom(...SUB_ACCOUNTS);

function resolve(given: Amount, balance: number): number {
  return 'absolute' in given ? given.absolute : Math.max(0, balance + given.offset);
}
const available = (state: LedgerState) => state.parent!.purchased - state.parent!.allocated;
const subAccountOf = (state: LedgerState, id: string) => state.subAccounts.get(id) ?? { quota: 0, used: 0 };

type Step = { advanceMs: number; build: (now: Date, state: LedgerState) => LedgerCommand };

const step: fc.Arbitrary<Step> = fc.record({
  advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 * 24 * HOUR })),
  build: fc.oneof(
    {
      weight: 2,
      arbitrary: amount.map(
        (credits) => (now: Date) => command('PurchaseCredits', { credits: resolve(credits, 1_000) }, now),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(subAccountId, fc.option(amount, { nil: undefined })).map(
        ([id, quota]) =>
          (now: Date, state: LedgerState) =>
            command(
              'CreateSubAccount',
              {
                subAccountId: id,
                name: id,
                billingModel: 'bill-to-parent',
                quota: quota && resolve(quota, available(state)),
              },
              now,
            ),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(subAccountId, amount).map(
        ([id, credits]) =>
          (now: Date, state: LedgerState) =>
            command('AllocateQuota', { subAccountId: id, credits: resolve(credits, available(state)) }, now),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(subAccountId, amount).map(
        ([id, quota]) =>
          (now: Date, state: LedgerState) =>
            command(
              'SetQuota',
              { subAccountId: id, quota: resolve(quota, subAccountOf(state, id).used) },
              now,
            ),
      ),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(subAccountId, fc.option(amount, { nil: undefined }))
        .map(([id, credits]) => (now: Date, state: LedgerState) => {
          const unused = subAccountOf(state, id).quota - subAccountOf(state, id).used;
          return command(
            'ReturnCredits',
            credits === undefined
              ? { subAccountId: id }
              : { subAccountId: id, credits: resolve(credits, unused) },
            now,
          );
        }),
    },
    {
      weight: 8,
      arbitrary: fc
        .tuple(
          subAccountId,
          fc.constantFrom(...KEYS),
          amount,
          fc.constantFrom('default', 'api'),
          fc.integer({ min: -40, max: 1 }),
        )
        .map(
          ([id, key, credits, meter, daysBack]) =>
            (now: Date, state: LedgerState) =>
              command(
                'RecordUsage',
                {
                  subAccountId: id,
                  usageId: `${id}-${key}-${now.getTime()}`,
                  idempotencyKey: key,
                  credits: resolve(credits, subAccountOf(state, id).quota - subAccountOf(state, id).used),
                  meter,
                  occurredAt: new Date(now.getTime() + daysBack * 24 * HOUR).toISOString(),
                },
                now,
              ),
        ),
    },
    {
      weight: 1,
      arbitrary: subAccountId.map(
        (id) => (now: Date) => command('CloseSubAccount', { subAccountId: id }, now),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 0, max: 2 }).map((monthsBack) => (now: Date) => {
        const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, 1));
        return command('CloseBillingPeriod', { period: month.toISOString().slice(0, 7) }, now);
      }),
    },
  ),
});

/** What the balances must be, recomputed from nothing but the credits each event moved. */
class Recount {
  purchased = 0;
  readonly quota = new Map<string, number>();
  readonly used = new Map<string, number>();

  apply(event: LedgerEvent): void {
    const add = (map: Map<string, number>, id: string, delta: number) =>
      map.set(id, (map.get(id) ?? 0) + delta);
    switch (event.type) {
      case 'CreditsPurchased':
        this.purchased += event.data.credits;
        break;
      case 'QuotaAllocated':
        add(this.quota, event.data.subAccountId, event.data.credits);
        break;
      case 'CreditsReturned':
        add(this.quota, event.data.subAccountId, -event.data.credits);
        break;
      case 'SubAccountClosed':
        add(this.quota, event.data.subAccountId, -event.data.returnedCredits);
        break;
      case 'UsageRecorded':
        add(this.used, event.data.subAccountId, event.data.credits);
        break;
    }
  }

  pool() {
    const allocated = sum(this.quota);
    return {
      purchased: this.purchased,
      allocated,
      available: this.purchased - allocated,
      used: sum(this.used),
      expired: 0,
    };
  }

  subAccount(id: string) {
    const quota = this.quota.get(id) ?? 0;
    const used = this.used.get(id) ?? 0;
    return { quota, used, remaining: quota - used };
  }
}

function sum(map: Map<string, number>): number {
  let total = 0;
  for (const value of map.values()) total += value;
  return total;
}

function checkRules(state: LedgerState): void {
  const parent = state.parent!;
  let quotas = 0;
  let used = 0;
  for (const subAccount of state.subAccounts.values()) {
    expect(subAccount.used).toBeGreaterThanOrEqual(0);
    expect(subAccount.used).toBeLessThanOrEqual(subAccount.quota); // rules 2 and 3
    if (subAccount.status === 'closed') expect(subAccount.quota).toBe(subAccount.used); // rule 10
    quotas += subAccount.quota;
    used += subAccount.used;
  }
  expect(parent.allocated).toBe(quotas);
  expect(parent.used).toBe(used);
  expect(parent.purchased - parent.allocated).toBeGreaterThanOrEqual(0); // rule 1
  expect(Number.isSafeInteger(parent.purchased)).toBe(true);
}

describe('ledger properties', () => {
  it('never breaks rules 1–3 and states balances that match a recount', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 150 }), (steps) => {
        const state = initialLedgerState();
        const recount = new Recount();
        let now = NOW;
        // A funded parent with some sub-accounts, so most random commands reach the rules.
        const setup: Step[] = [
          { advanceMs: 0, build: () => openParent() },
          { advanceMs: 0, build: () => command('PurchaseCredits', { credits: 10_000 }) },
          ...SUB_ACCOUNTS.slice(1).map((id) => ({
            advanceMs: 0,
            build: () =>
              command('CreateSubAccount', {
                subAccountId: id,
                name: id,
                billingModel: 'bill-to-parent',
                quota: 2_000,
              }),
          })),
        ];
        for (const { advanceMs, build } of [...setup, ...steps]) {
          now = new Date(now.getTime() + advanceMs);
          const next = build(now, state);
          const before = JSON.stringify(ledgerImage(state));
          let events: LedgerEvent[];
          try {
            events = decideWithResult(next, state).events;
          } catch (error) {
            if (!isDomainError(error)) throw error;
            events = [];
          }
          // Rule 6 and decide's purity: deciding alone never changes the state.
          expect(JSON.stringify(ledgerImage(state))).toBe(before);
          for (const event of events) {
            evolve(state, event);
            recount.apply(event);
            const stated = (event.data as { balancesAfter?: BalancesAfter | PoolBalancesAfter })
              .balancesAfter;
            if (stated) expect(stated.pool).toEqual(recount.pool());
            if (stated && 'subAccount' in stated) {
              expect(stated.subAccount).toEqual(
                recount.subAccount((event.data as { subAccountId: string }).subAccountId),
              );
            }
          }
          checkRules(state);
        }
        // A snapshot taken anywhere reloads to the same state.
        const reloaded = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state))));
        expect(ledgerImage(reloaded)).toEqual(ledgerImage(state));
      }),
      { numRuns: 200 },
    );
  });
});
