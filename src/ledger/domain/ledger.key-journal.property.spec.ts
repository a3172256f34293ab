import fc from 'fast-check';
import { decideWithResult } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import type { LedgerEvent } from './ledger.events';
import { USAGE_KEY_RETENTION_MS, evolve, initialLedgerState, type LedgerState } from './ledger.state';
import {
  fromSnapshot,
  ledgerImage,
  restoreUsageKeys,
  toSnapshot,
  usageKeyJournal,
  type UsageKeyChunk,
} from './ledger.snapshot';
import { NOW, command, createSub, openParent, purchase } from './testing/ledger-fixtures';

/*
 * The key journal against the full fold: a ledger restored the way the command processor restores
 * it (core snapshot at some revision, the stream's tail folded on it, then every journal chunk the
 * store still holds merged in) decides every usage command exactly as the state folded from the
 * whole history, whatever the snapshot points, chunk sizes, duplicated chunks, chunks written past
 * the snapshot (a crash before the snapshot append), key expiry and key reuse after expiry.
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
function answers(state: LedgerState, now: Date): string[] {
  const out: string[] = [];
  for (const sub of SUBS) {
    for (const key of KEYS) {
      for (const credits of [0, 1, 7]) {
        const probe = usage({ kind: 'use', sub, key, credits, meter: 'default', advanceMs: 0 }, now, 999);
        try {
          out.push(JSON.stringify(decideWithResult(probe, state)));
        } catch (error) {
          out.push(String(error));
        }
      }
    }
  }
  return out;
}

describe('ledger key journal', () => {
  it('core snapshot + tail + journal decides every usage exactly as the full fold', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 5, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 200, max: 2_000 }),
        (steps, cutSeeds, pick, crashAfter, duplicate, maxBytes) => {
          const { events, nowAt, finalNow } = historyOf(steps);
          const last = events.length - 1;
          // Snapshot points as the processor takes them: increasing revisions within the stream.
          const points = [...new Set(cutSeeds.map((seed) => seed % (last + 1)))].sort((a, b) => a - b);
          const chosen = pick % points.length;
          const snapshotAt = points[chosen];
          // Journal chunks written at each point up to the chosen snapshot; with a crash, also the
          // chunks of the next point, whose snapshot never landed.
          const written: { chunk: UsageKeyChunk; writtenAtMs: number }[] = [];
          let through = -1;
          const journalUpTo = crashAfter && chosen + 1 < points.length ? chosen + 1 : chosen;
          for (let index = 0; index <= journalUpTo; index++) {
            const at = points[index];
            for (const chunk of usageKeyJournal(foldTo(events, at), through, at, maxBytes)) {
              written.push({ chunk: viaJson(chunk), writtenAtMs: nowAt[at] });
            }
            through = at;
          }
          if (duplicate && written.length > 0) written.push(written[0]);
          // The store's $maxAge (35 days + 1) drops old chunks by the time of the load.
          const kept = written.filter(
            ({ writtenAtMs }) => writtenAtMs + USAGE_KEY_RETENTION_MS + DAY > finalNow.getTime(),
          );

          const full = events.reduce(evolve, initialLedgerState());
          let restored = fromSnapshot(viaJson(toSnapshot(foldTo(events, snapshotAt))));
          for (const event of viaJson(events.slice(snapshotAt + 1))) restored = evolve(restored, event);
          restored = restoreUsageKeys(
            restored,
            kept.map(({ chunk }) => chunk),
            snapshotAt,
          );

          for (const at of [
            finalNow,
            new Date(finalNow.getTime() + 30 * DAY),
            new Date(finalNow.getTime() + 36 * DAY),
          ]) {
            expect(answers(restored, at)).toEqual(answers(full, at));
          }
          if (kept.length === written.length) expect(ledgerImage(restored)).toEqual(ledgerImage(full));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('splits the journal into chunks under the byte cap and merges them in any order', () => {
    let state = initialLedgerState();
    const apply = (next: LedgerCommand) => {
      for (const event of decideWithResult(next, state).events) state = evolve(state, event);
    };
    apply(openParent());
    apply(purchase(1_000_000));
    apply(createSub('a', { quota: 1_000_000 }));
    for (let n = 0; n < 2_000; n++) {
      apply(
        command('RecordUsage', {
          subAccountId: 'a',
          usageId: `u-${n}`,
          idempotencyKey: `key-${n}`,
          credits: 1,
        }),
      );
    }
    const chunks = usageKeyJournal(state, -1, state.lastRevision, 20_000);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) expect(JSON.stringify(chunk).length).toBeLessThanOrEqual(20_000);
    const restored = restoreUsageKeys(
      fromSnapshot(viaJson(toSnapshot(state))),
      viaJson([...chunks].reverse()),
      state.lastRevision,
    );
    expect(ledgerImage(restored)).toEqual(ledgerImage(state));
    expect(restored.subAccounts.get('a')!.receipts.size).toBe(2_000);
  });
});
