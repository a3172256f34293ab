import { DomainError, isDomainError } from './domain-error';
import { ledgerDecider } from './index';
import {
  decideUsage,
  MAX_USAGE_AGE_MS,
  MAX_USAGE_FUTURE_SKEW_MS,
  type LedgerDecision,
} from './ledger.decider';
import { USAGE_KEY_RETENTION_MS } from './ledger.state';
import {
  NOW,
  closePeriod,
  createSub,
  historyOf,
  openParent,
  purchase,
  spec,
  stateOf,
  useCredits,
} from './testing/ledger-fixtures';
import { usageFingerprint } from './usage-fingerprint';

// Opened and created well before NOW, so occurredAt can reach 35 days back.
const OPENED = new Date('2026-09-01T00:00:00.000Z');
const setup = [
  openParent(OPENED),
  purchase(20_000, OPENED),
  createSub('a', { quota: 1_000 }, OPENED),
  createSub('b', { quota: 1_000 }, OPENED),
];
const funded = historyOf(...setup);
const later = (ms: number) => new Date(NOW.getTime() + ms);

describe('ledger decider: usage', () => {
  it('records usage with its defaults, its billing period and the balances after it', () => {
    spec
      .given(funded)
      .when(useCredits('a', 'req-1', 250))
      .then([
        {
          type: 'UsageRecorded',
          data: {
            subAccountId: 'a',
            usageId: 'usage-req-1',
            idempotencyKey: 'req-1',
            credits: 250,
            meter: 'default',
            occurredAt: NOW.toISOString(),
            billingPeriod: '2026-10',
            late: false,
            recordedAt: NOW.toISOString(),
            fingerprint: usageFingerprint({
              credits: 250,
              meter: 'default',
              occurredAt: null,
              attributes: null,
            }),
            balancesAfter: {
              subAccount: { quota: 1_000, used: 250, remaining: 750 },
              pool: { purchased: 20_000, allocated: 2_000, available: 18_000, used: 250, expired: 0 },
            },
            portions: [{ lotId: 'lot-1', credits: 250 }],
          },
        },
      ]);
  });

  it('keeps meter, occurredAt (normalised to UTC) and attributes as given', () => {
    const [event] = decideUsage(
      useCredits('a', 'req-1', 5, {
        meter: 'image.optimize',
        occurredAt: '2026-10-15T13:30:00+02:00',
        attributes: { format: 'webp', lossy: true, bytes: 1234 },
      }),
      stateOf(...setup),
    ).events;
    expect(event.data).toMatchObject({
      meter: 'image.optimize',
      occurredAt: '2026-10-15T11:30:00.000Z',
      attributes: { format: 'webp', lossy: true, bytes: 1234 },
      billingPeriod: '2026-10',
    });
  });

  describe('rule 2: used never exceeds quota', () => {
    it('accepts usage of exactly what remains, down to 0', () => {
      const [recorded, ...alerts] = decideUsage(useCredits('a', 'all', 1_000), stateOf(...setup)).events;
      expect(recorded).toMatchObject({
        type: 'UsageRecorded',
        data: { balancesAfter: { subAccount: { quota: 1_000, used: 1_000, remaining: 0 } } },
      });
      // Crossing 80 % and 100 % of the quota at once records both alerts with it (SPEC §11).
      expect(alerts.map((alert) => alert.data)).toEqual([
        { subAccountId: 'a', threshold: 80, quota: 1_000, used: 1_000 },
        { subAccountId: 'a', threshold: 100, quota: 1_000, used: 1_000 },
      ]);
    });

    it('refuses one credit more than remains', () => {
      spec
        .given(historyOf(...setup, useCredits('a', 'r1', 600)))
        .when(useCredits('a', 'r2', 401))
        .thenFails('insufficient_quota', /400 remaining/);
    });

    it('records usage of 0 credits even with nothing remaining', () => {
      spec
        .given(historyOf(...setup, useCredits('a', 'r1', 1_000)))
        .when(useCredits('a', 'r2', 0))
        .then(historyOf(...setup, useCredits('a', 'r1', 1_000), useCredits('a', 'r2', 0)).slice(-1));
    });

    it.each([-1, 0.5, 1e12 + 1])('refuses %p credits', (credits) => {
      spec
        .given(funded)
        .when(useCredits('a', 'r', credits))
        .thenFails('validation_failed');
    });

    it('refuses an unknown sub-account', () => {
      spec
        .given(funded)
        .when(useCredits('zzz', 'r', 1))
        .thenFails('not_found');
    });
  });

  describe('rule 5: one record per idempotency key and sub-account', () => {
    const recorded = [
      ...setup,
      useCredits('a', 'req-1', 100, { meter: 'api', occurredAt: '2026-10-15T11:00:00Z' }),
    ];

    it('answers a repeat with the original usage id and remaining, recording nothing', () => {
      const state = stateOf(...recorded, useCredits('a', 'req-2', 300));
      const repeat = useCredits('a', 'req-1', 100, { meter: 'api', occurredAt: '2026-10-15T13:00:00+02:00' });
      const decision = decideUsage({ ...repeat, data: { ...repeat.data, usageId: 'a-fresh-id' } }, state);
      expect(decision).toEqual({
        events: [],
        result: { usageId: 'usage-req-1', remaining: 900, replayed: true },
      });
      spec
        .given(historyOf(...recorded))
        .when(repeat)
        .thenNothingHappens();
    });

    it('treats an omitted meter as "default" and ignores attribute order', () => {
      const withAttributes = [...setup, useCredits('a', 'k', 1, { attributes: { x: 1, y: 'two' } })];
      spec
        .given(historyOf(...withAttributes))
        .when(useCredits('a', 'k', 1, { meter: 'default', attributes: { y: 'two', x: 1 } }))
        .thenNothingHappens();
    });

    it.each([
      ['credits', { credits: 101 }],
      ['meter', { meter: 'other' }],
      ['occurredAt', { occurredAt: '2026-10-15T11:00:01Z' }],
      ['an omitted occurredAt', { occurredAt: undefined }],
      ['attributes', { attributes: { a: 1 } }],
    ])('refuses a repeat with different %s as a conflict', (_label, change) => {
      const original = useCredits('a', 'req-1', 100, { meter: 'api', occurredAt: '2026-10-15T11:00:00Z' });
      const changed = { ...original, data: { ...original.data, ...change } };
      spec
        .given(historyOf(...recorded))
        .when(changed)
        .thenFails('idempotency_conflict');
    });

    it('scopes keys per sub-account', () => {
      const decision = decideUsage(
        useCredits('b', 'req-1', 100, { meter: 'api', occurredAt: '2026-10-15T11:00:00Z' }),
        stateOf(...recorded),
      );
      expect(decision.result.replayed).toBe(false);
      expect(decision.events).toHaveLength(1);
    });

    it('remembers a key for 35 days after it was recorded, then forgets it', () => {
      const state = stateOf(...setup, useCredits('a', 'old', 10));
      const justBefore = useCredits('a', 'old', 10, {}, later(USAGE_KEY_RETENTION_MS - 1));
      expect(decideUsage(justBefore, state).result.replayed).toBe(true);
      const expired = useCredits('a', 'old', 99, {}, later(USAGE_KEY_RETENTION_MS));
      const decision = decideUsage(expired, state);
      expect(decision.result.replayed).toBe(false);
      expect(decision.events[0].data).toMatchObject({ credits: 99 });
    });

    it('marks a key only by the usage itself: a refused record leaves the key free', () => {
      const state = stateOf(...setup);
      expect(() => decideUsage(useCredits('a', 'k', 5_000), state)).toThrow('insufficient_quota');
      expect(decideUsage(useCredits('a', 'k', 5), state).result.replayed).toBe(false);
    });
  });

  describe('rule 9: occurredAt window', () => {
    const at = (ms: number) => ({ occurredAt: later(ms).toISOString() });

    it('accepts exactly 5 minutes ahead and exactly 35 days back', () => {
      const state = stateOf(...setup);
      expect(decideUsage(useCredits('a', 'f', 1, at(MAX_USAGE_FUTURE_SKEW_MS)), state).events).toHaveLength(
        1,
      );
      expect(decideUsage(useCredits('a', 'p', 1, at(-MAX_USAGE_AGE_MS)), state).events).toHaveLength(1);
    });

    it('refuses a millisecond beyond either bound', () => {
      spec
        .given(funded)
        .when(useCredits('a', 'f', 1, at(MAX_USAGE_FUTURE_SKEW_MS + 1)))
        .thenFails('validation_failed', /future/);
      spec
        .given(funded)
        .when(useCredits('a', 'p', 1, at(-MAX_USAGE_AGE_MS - 1)))
        .thenFails('validation_failed', /35 days/);
    });

    it('refuses usage from before the sub-account was created', () => {
      const created = historyOf(
        openParent(),
        purchase(10),
        createSub('new', { quota: 10 }, later(10 * 24 * 60 * 60 * 1000)),
      );
      const tooEarly = useCredits(
        'new',
        'x',
        1,
        { occurredAt: later(10 * 24 * 60 * 60 * 1000 - 1).toISOString() },
        later(11 * 24 * 60 * 60 * 1000),
      );
      spec
        .given(created)
        .when(tooEarly)
        .thenFails('validation_failed', /before sub-account new was created/);
    });

    it.each(['2026-10-15', '2026-10-15T12:00:00', 'yesterday', '2026-13-01T00:00:00Z'])(
      'refuses occurredAt %p',
      (occurredAt) => {
        spec
          .given(funded)
          .when(useCredits('a', 'x', 1, { occurredAt }))
          .thenFails('validation_failed');
      },
    );
  });

  describe('rule 8: late usage', () => {
    const november = new Date('2026-11-02T08:00:00.000Z');
    it('bills usage of a closed period in the open period, marked late with its original date', () => {
      const [event] = historyOf(
        ...setup,
        closePeriod('2026-10', new Date('2026-11-01T00:05:00Z')),
        useCredits('a', 'late-1', 7, { occurredAt: '2026-10-31T23:59:59Z' }, november),
      ).slice(-1);
      expect(event).toMatchObject({
        type: 'UsageRecorded',
        data: { occurredAt: '2026-10-31T23:59:59.000Z', billingPeriod: '2026-11', late: true },
      });
    });

    it('bills usage of an ended but open period in that period, not late', () => {
      const [event] = historyOf(
        ...setup,
        useCredits('a', 'on-time', 7, { occurredAt: '2026-10-31T23:59:59Z' }, november),
      ).slice(-1);
      expect(event).toMatchObject({ data: { billingPeriod: '2026-10', late: false } });
    });
  });

  describe('a batch through ledgerDecider, as the command processor decides one', () => {
    it('decides each record in order against the state left by the earlier ones', () => {
      const state = stateOf(...setup);
      // The processor's batch loop: decide, fold the events of an accepted command, skip a refused one.
      const outcomes = [
        useCredits('a', 'b1', 600),
        useCredits('a', 'b2', 600),
        useCredits('a', 'b3', 400),
        useCredits('a', 'b1', 600),
        useCredits('a', 'b1', 601),
        useCredits('nobody', 'b5', 1),
      ].map((command): LedgerDecision | DomainError => {
        try {
          const decision = ledgerDecider.decide(command, state);
          for (const event of decision.events) ledgerDecider.evolve(state, event);
          return decision;
        } catch (error) {
          if (isDomainError(error)) return error;
          throw error;
        }
      });
      expect(
        outcomes.map((outcome) =>
          outcome instanceof DomainError ? outcome.code : outcome.result?.replayed ? 'repeat' : 'ok',
        ),
      ).toEqual(['ok', 'insufficient_quota', 'ok', 'repeat', 'idempotency_conflict', 'not_found']);
      expect(outcomes[3]).toMatchObject({
        events: [],
        result: { usageId: 'usage-b1', remaining: 400 },
      });
      expect(state.subAccounts.get('a')).toMatchObject({ quota: 1_000, used: 1_000 });
      expect(state.parent).toMatchObject({ used: 1_000 });
    });
  });
});
