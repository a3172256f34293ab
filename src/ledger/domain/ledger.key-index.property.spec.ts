import fc from 'fast-check';
import { decideWithResult } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import type { LedgerEvent } from './ledger.events';
import {
  USAGE_KEY_RETENTION_MS,
  evolve,
  forgetIndexedUsageKeys,
  initialLedgerState,
  usageKeyOf,
  type LedgerState,
  type UsageKeyLookup,
  type UsageReceipt,
} from './ledger.state';
import { fromSnapshot, toSnapshot } from './ledger.snapshot';
import { NOW, command, createSub, openParent, purchase } from './testing/ledger-fixtures';

/*
 * The idempotency-key index against the full fold: a ledger that left the receipts of revisions up to
 * some point to the index (in memory only the tail after it), possibly reloaded from a snapshot taken
 * anywhere, decides every usage command exactly as the state folded from the whole history, given a
 * lookup of an index that has committed at least that far (and maybe further), that keeps only the
 * newest receipt of a reused key, and whose expired rows may or may not have been deleted yet. Never
 * missed, never counted twice, whatever the points, key expiry and key reuse after expiry.
 */

const DAY = 24 * 60 * 60 * 1000;
const SUBS = ['a', 'b'];
const KEYS = ['k1', 'k2', 'k3', 'k4', 'k5'];

type Step =
  | { kind: 'use'; sub: string; key: string; credits: number; meter: string; advanceMs: number }
  | { kind: 'allocate'; sub: string; credits: number; advanceMs: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('use' as const),
      sub: fc.constantFrom(...SUBS),
      key: fc.constantFrom(...KEYS),
      credits: fc.integer({ min: 0, max: 30 }),
      meter: fc.constantFrom('default', 'api'),
      // Mostly small steps, sometimes past the 35 days, so keys expire and get reused.
      advanceMs: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 2 * DAY }) },
        { weight: 1, arbitrary: fc.integer({ min: 20 * DAY, max: 40 * DAY }) },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('allocate' as const),
      sub: fc.constantFrom(...SUBS),
      credits: fc.integer({ min: 0, max: 100 }),
      advanceMs: fc.constant(0),
    }),
  },
);

function usage(step: Extract<Step, { kind: 'use' }>, now: Date, n: number): LedgerCommand {
  return command(
    'RecordUsage',
    {
      subAccountId: step.sub,
      usageId: `u-${n}`,
      idempotencyKey: step.key,
      credits: step.credits,
      meter: step.meter,
    },
    now,
  );
}

type History = { events: LedgerEvent[]; nowAt: number[]; finalNow: Date };

/** The events of a random history, and the clock at each revision. */
function historyOf(steps: Step[]): History {
  const state = initialLedgerState();
  const events: LedgerEvent[] = [];
  const nowAt: number[] = [];
  let now = NOW;
  const apply = (next: LedgerCommand) => {
    try {
      for (const event of decideWithResult(next, state).events) {
        evolve(state, event);
        events.push(event);
        nowAt.push(now.getTime());
      }
    } catch {
      // Refused: nothing recorded, as in the processor.
    }
  };
  apply(openParent());
  apply(purchase(10_000));
  for (const sub of SUBS) apply(createSub(sub, { quota: 1_000 }));
  steps.forEach((next, n) => {
    now = new Date(now.getTime() + next.advanceMs);
    if (next.kind === 'use') apply(usage(next, now, n));
    else apply(command('AllocateQuota', { subAccountId: next.sub, credits: next.credits }, now));
  });
  return { events, nowAt, finalNow: now };
}

const foldTo = (events: LedgerEvent[], revision: number): LedgerState =>
  events.slice(0, revision + 1).reduce(evolve, initialLedgerState());
const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** What every usage command one could send next would be answered, at `now`. */
function answers(state: LedgerState, now: Date, lookup?: UsageKeyLookup): string[] {
  const out: string[] = [];
  for (const sub of SUBS) {
    for (const key of KEYS) {
      for (const credits of [0, 1, 7]) {
        const probe = usage({ kind: 'use', sub, key, credits, meter: 'default', advanceMs: 0 }, now, 999);
        try {
          out.push(JSON.stringify(decideWithResult(probe, state, lookup)));
        } catch (error) {
          out.push(String(error));
        }
      }
    }
  }
  return out;
}

/**
 * The index as the projection keeps it after folding revisions up to `through`: one row per key, the
 * newest receipt; with `deleteExpired`, without the rows the periodic DELETE removes (recorded 35 days
 * or more before the newest recording it folded).
 */
function indexOf(events: LedgerEvent[], through: number, deleteExpired: boolean): UsageKeyLookup {
  const receipts = new Map<string, UsageReceipt>();
  let latest = Number.NEGATIVE_INFINITY;
  events.slice(0, through + 1).forEach((event, revision) => {
    if (event.type !== 'UsageRecorded') return;
    const { subAccountId, idempotencyKey, usageId, fingerprint, recordedAt, balancesAfter } = event.data;
    const recordedAtMs = Date.parse(recordedAt);
    latest = Math.max(latest, recordedAtMs);
    receipts.set(usageKeyOf(subAccountId, idempotencyKey), {
      subAccountId,
      idempotencyKey,
      usageId,
      fingerprint,
      remaining: balancesAfter.subAccount.remaining,
      recordedAtMs,
      revision,
    });
  });
  if (deleteExpired) {
    for (const [key, receipt] of receipts) {
      if (receipt.recordedAtMs + USAGE_KEY_RETENTION_MS <= latest) receipts.delete(key);
    }
  }
  return { indexedThrough: through, receipts };
}

describe('ledger idempotency keys with the key index', () => {
  it('memory after the indexed revision plus a lookup of the index decides every usage as the full fold', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 5, maxLength: 60 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.option(fc.nat()),
        fc.boolean(),
        (steps, forgetSeed, aheadSeed, snapshotSeed, reloadSeed, deleteExpired) => {
          const { events, finalNow } = historyOf(steps);
          const last = events.length - 1;
          const full = events.reduce(evolve, initialLedgerState());

          // Memory forgot through `forgotten`; the index has committed through `indexed` >= it.
          const forgotten = forgetSeed % (last + 1);
          const indexed = forgotten + (aheadSeed % (last + 1 - forgotten));
          const snapshotAt = forgotten + (snapshotSeed % (last + 1 - forgotten));
          let bounded = foldTo(events, snapshotAt);
          forgetIndexedUsageKeys(bounded, forgotten);
          if (reloadSeed !== null) bounded = fromSnapshot(viaJson(toSnapshot(bounded)));
          for (const event of viaJson(events.slice(snapshotAt + 1))) bounded = evolve(bounded, event);
          const lookup = indexOf(events, indexed, deleteExpired);

          for (const at of [
            finalNow,
            new Date(finalNow.getTime() + 30 * DAY),
            new Date(finalNow.getTime() + 36 * DAY),
          ]) {
            expect(answers(bounded, at, lookup)).toEqual(answers(full, at));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses to decide usage without a lookup once memory has left keys to the index', () => {
    const { events, finalNow } = historyOf([
      { kind: 'use', sub: 'a', key: 'k1', credits: 1, meter: 'default', advanceMs: 0 },
    ]);
    const state = events.reduce(evolve, initialLedgerState());
    forgetIndexedUsageKeys(state, events.length - 1);
    expect(state.subAccounts.get('a')!.receipts.size).toBe(0);
    const probe = usage(
      { kind: 'use', sub: 'a', key: 'k1', credits: 1, meter: 'default', advanceMs: 0 },
      finalNow,
      1,
    );
    expect(() => decideWithResult(probe, state)).toThrow('without the key index');
    expect(() => decideWithResult(probe, state, indexOf(events, events.length - 2, false))).toThrow(
      'without the key index',
    );
    expect(decideWithResult(probe, state, indexOf(events, events.length - 1, false)).result).toMatchObject({
      replayed: true,
    });
  });
});
