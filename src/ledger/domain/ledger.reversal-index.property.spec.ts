import fc from 'fast-check';
import { decideWithResult } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import type { LedgerEvent } from './ledger.events';
import {
  USAGE_KEY_RETENTION_MS,
  evolve,
  forgetIndexedReversibleUsage,
  initialLedgerState,
  reversalKeyOf,
  type LedgerState,
  type ReversalReceipt,
  type ReversibleUsage,
  type ReversibleUsageLookup,
} from './ledger.state';
import { fromSnapshot, toSnapshot } from './ledger.snapshot';
import { NOW, command, createSub, openParent, purchase } from './testing/ledger-fixtures';

/*
 * The reversible-usage index against the full fold: a ledger that left the usage and reversals of
 * revisions up to some point to the index (in memory only the tail after it), possibly reloaded from a
 * snapshot taken anywhere, decides every reversal exactly as the state folded from the whole history,
 * given a lookup of an index that has committed at least that far (and maybe further), whose expired
 * rows may or may not have been deleted yet. A usage is never missed and a reversal never counted
 * twice, whatever the points, the expiry and reversals of one usage on both sides of the index's head.
 */

const DAY = 24 * 60 * 60 * 1000;
const SUBS = ['a', 'b'];
const REVERSAL_KEYS = ['r1', 'r2', 'r3'];
const REASONS = ['duplicate', 'refund'];

type Step =
  | { kind: 'use'; sub: string; credits: number; advanceMs: number }
  | {
      kind: 'reverse';
      usage: number;
      key: string;
      credits: number | null;
      reason: string;
      advanceMs: number;
    };

const advance = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 2 * DAY }) },
  { weight: 1, arbitrary: fc.integer({ min: 20 * DAY, max: 40 * DAY }) },
);

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('use' as const),
      sub: fc.constantFrom(...SUBS),
      credits: fc.integer({ min: 0, max: 20 }),
      advanceMs: advance,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('reverse' as const),
      usage: fc.nat(),
      key: fc.constantFrom(...REVERSAL_KEYS),
      credits: fc.option(fc.integer({ min: 1, max: 8 })),
      reason: fc.constantFrom(...REASONS),
      advanceMs: fc.constant(0),
    }),
  },
);

function reversal(
  usageId: string,
  sub: string,
  key: string,
  credits: number | null,
  reason: string,
  now: Date,
  n: number,
): LedgerCommand {
  return command(
    'ReverseUsage',
    {
      subAccountId: sub,
      usageId,
      reversalId: `rev-${n}`,
      idempotencyKey: key,
      reason,
      ...(credits === null ? {} : { credits }),
    },
    now,
  );
}

type History = { events: LedgerEvent[]; usages: { usageId: string; sub: string }[]; finalNow: Date };

function historyOf(steps: Step[]): History {
  const state = initialLedgerState();
  const events: LedgerEvent[] = [];
  const usages: { usageId: string; sub: string }[] = [];
  let now = NOW;
  const apply = (next: LedgerCommand): boolean => {
    try {
      for (const event of decideWithResult(next, state).events) {
        evolve(state, event);
        events.push(event);
      }
      return true;
    } catch {
      return false;
    }
  };
  apply(openParent());
  apply(purchase(10_000));
  for (const sub of SUBS) apply(createSub(sub, { quota: 1_000 }));
  steps.forEach((next, n) => {
    now = new Date(now.getTime() + next.advanceMs);
    if (next.kind === 'use') {
      const usageId = `u-${n}`;
      const recorded = apply(
        command(
          'RecordUsage',
          { subAccountId: next.sub, usageId, idempotencyKey: `k-${n}`, credits: next.credits },
          now,
        ),
      );
      if (recorded) usages.push({ usageId, sub: next.sub });
    } else if (usages.length > 0) {
      const { usageId, sub } = usages[next.usage % usages.length];
      apply(reversal(usageId, sub, next.key, next.credits, next.reason, now, n));
    }
  });
  return { events, usages, finalNow: now };
}

const foldTo = (events: LedgerEvent[], revision: number): LedgerState =>
  events.slice(0, revision + 1).reduce(evolve, initialLedgerState());
const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The answer to every reversal one could send next, at `now`. */
function answers(state: LedgerState, usages: History['usages'], now: Date, lookup?: ReversibleUsageLookup) {
  const out: string[] = [];
  const probes = [...usages, { usageId: 'u-unknown', sub: 'a' }];
  for (const { usageId, sub } of probes) {
    for (const asked of [sub, sub === 'a' ? 'b' : 'a']) {
      for (const key of REVERSAL_KEYS) {
        for (const credits of [null, 1, 5]) {
          const probe = reversal(usageId, asked, key, credits, REASONS[0], now, 999);
          try {
            out.push(JSON.stringify(decideWithResult(probe, state, undefined, lookup)));
          } catch (error) {
            out.push(String(error));
          }
        }
      }
    }
  }
  return out;
}

/**
 * The index as the projection keeps it after folding revisions up to `through`: every usage row with
 * the credits reversed so far, every reversal; with `deleteExpired`, without the rows the periodic
 * DELETE removes (35 days or more before the newest recording it folded).
 */
export function reversibleIndexOf(
  events: LedgerEvent[],
  through: number,
  deleteExpired: boolean,
): ReversibleUsageLookup {
  const usages = new Map<string, ReversibleUsage & { reversed: number }>();
  const reversals = new Map<string, ReversalReceipt>();
  let latest = Number.NEGATIVE_INFINITY;
  events.slice(0, through + 1).forEach((event, revision) => {
    if (event.type === 'UsageRecorded') {
      const { usageId, subAccountId, credits, meter, occurredAt, billingPeriod, late, recordedAt } =
        event.data;
      const recordedAtMs = Date.parse(recordedAt);
      latest = Math.max(latest, recordedAtMs);
      usages.set(usageId, {
        usageId,
        subAccountId,
        credits,
        reversed: 0,
        meter,
        occurredAt,
        billingPeriod,
        late,
        recordedAtMs,
        revision,
      });
    } else if (event.type === 'UsageReversed') {
      const { usageId, idempotencyKey, reversalId, fingerprint, credits, reversedAt } = event.data;
      const usage = usages.get(usageId);
      if (usage) usage.reversed += credits;
      reversals.set(reversalKeyOf(usageId, idempotencyKey), {
        usageId,
        idempotencyKey,
        reversalId,
        fingerprint,
        credits,
        reversedAtMs: Date.parse(reversedAt),
        revision,
      });
    }
  });
  if (deleteExpired) {
    for (const [id, usage] of usages) {
      if (usage.recordedAtMs + USAGE_KEY_RETENTION_MS <= latest) usages.delete(id);
    }
    for (const [key, receipt] of reversals) {
      if (receipt.reversedAtMs + USAGE_KEY_RETENTION_MS <= latest) reversals.delete(key);
    }
  }
  return { indexedThrough: through, usages, reversals };
}

describe('ledger usage reversals with the reversible-usage index', () => {
  it('memory after the indexed revision plus a lookup of the index decides every reversal as the full fold', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 5, maxLength: 50 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.option(fc.nat()),
        fc.boolean(),
        (steps, forgetSeed, aheadSeed, snapshotSeed, reloadSeed, deleteExpired) => {
          const { events, usages, finalNow } = historyOf(steps);
          const last = events.length - 1;
          const full = events.reduce(evolve, initialLedgerState());

          const forgotten = forgetSeed % (last + 1);
          const indexed = forgotten + (aheadSeed % (last + 1 - forgotten));
          const snapshotAt = forgotten + (snapshotSeed % (last + 1 - forgotten));
          let bounded = foldTo(events, snapshotAt);
          forgetIndexedReversibleUsage(bounded, forgotten);
          if (reloadSeed !== null) bounded = fromSnapshot(viaJson(toSnapshot(bounded)));
          for (const event of viaJson(events.slice(snapshotAt + 1))) bounded = evolve(bounded, event);
          const lookup = reversibleIndexOf(events, indexed, deleteExpired);

          for (const at of [finalNow, new Date(finalNow.getTime() + 36 * DAY)]) {
            expect(answers(bounded, usages, at, lookup)).toEqual(answers(full, usages, at));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps no usage in memory once indexed, and refuses to decide a reversal without a lookup reaching it', () => {
    const { events, usages, finalNow } = historyOf([
      { kind: 'use', sub: 'a', credits: 5, advanceMs: 0 },
      { kind: 'reverse', usage: 0, key: 'r1', credits: 2, reason: 'refund', advanceMs: 0 },
    ]);
    const state = events.reduce(evolve, initialLedgerState());
    forgetIndexedReversibleUsage(state, events.length - 1);
    expect(state.reversible.usages.size).toBe(0);
    expect(state.reversible.reversals.size).toBe(0);
    expect(toSnapshot(state).reversible.entries).toEqual([]);
    const probe = reversal(usages[0].usageId, 'a', 'r1', 2, 'refund', finalNow, 1);
    expect(() => decideWithResult(probe, state)).toThrow('without the reversible-usage index');
    expect(() =>
      decideWithResult(probe, state, undefined, reversibleIndexOf(events, events.length - 2, false)),
    ).toThrow('without the reversible-usage index');
    expect(
      decideWithResult(probe, state, undefined, reversibleIndexOf(events, events.length - 1, false)).result,
    ).toMatchObject({ reversalId: 'rev-1', credits: 2, replayed: true });
  });
});
