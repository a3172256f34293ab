import { decideWithResult } from './ledger.decider';
import type { LedgerCommand } from './ledger.commands';
import { USAGE_KEY_RETENTION_MS, evolve, initialLedgerState } from './ledger.state';
import { fromSnapshot, ledgerImage, toSnapshot, usageKeysOf } from './ledger.snapshot';
import {
  NOW,
  closePeriod,
  closeSub,
  command,
  createSub,
  historyOf,
  issueKey,
  openParent,
  purchase,
  stateOf,
  useCredits,
} from './testing/ledger-fixtures';

const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
/** Through JSON, as the command processor reloads a ledger from its snapshot. */
const reload = (state: ReturnType<typeof stateOf>) => fromSnapshot(viaJson(toSnapshot(state)));
const later = (ms: number) => new Date(NOW.getTime() + ms);
const day = 24 * 60 * 60 * 1000;

describe('ledger snapshots', () => {
  const history: LedgerCommand[] = [
    openParent(new Date('2026-09-10T00:00:00Z')),
    purchase(50_000),
    createSub('a', { quota: 10_000, creditPrice: '0.002', region: 'eu' }),
    createSub('b', { quota: 5_000, billingModel: 'bill-to-sub-account' }),
    issueKey('key-a', 'a'),
    issueKey('key-b', 'b'),
    useCredits('a', 'k1', 100, { attributes: { kind: 'png' } }),
    useCredits('b', 'k1', 200),
    command('UpdateSubAccount', {
      subAccountId: 'a',
      billingModel: 'bill-to-sub-account',
      creditPrice: null,
    }),
    command('UpdateParentAccount', { creditPrice: '0.0005' }),
    closeSub('b'),
    closePeriod('2026-09', NOW),
  ];

  it('round-trips through JSON to the same state', () => {
    const state = stateOf(...history);
    const restored = reload(state);
    expect(ledgerImage(restored)).toEqual(ledgerImage(state));
    expect(restored.subAccounts.get('a')?.receipts.get('k1')).toEqual(
      state.subAccounts.get('a')?.receipts.get('k1'),
    );
    expect(restored.usageKeys.latestRecordedAtMs).toBe(state.usageKeys.latestRecordedAtMs);
  });

  it('decides every kind of command exactly as the state it was taken from', () => {
    const probes: LedgerCommand[] = [
      useCredits('a', 'k1', 100, { attributes: { kind: 'png' } }),
      useCredits('a', 'k1', 101),
      useCredits('a', 'k2', 9_900),
      useCredits('b', 'k2', 1),
      command('SetQuota', { subAccountId: 'a', quota: 100 }),
      command('AllocateQuota', { subAccountId: 'a', credits: 35_001 }),
      command('ReturnCredits', { subAccountId: 'a' }),
      closePeriod('2026-09', NOW),
      command('RevokeApiKey', { keyId: 'key-b', subAccountId: 'b' }),
      command('UpdateSubAccount', { subAccountId: 'a', billingModel: 'bill-to-parent' }),
    ];
    const outcome = (state: ReturnType<typeof stateOf>, probe: LedgerCommand) => {
      try {
        return decideWithResult(probe, state);
      } catch (error) {
        return String(error);
      }
    };
    for (const probe of probes) {
      expect(outcome(reload(stateOf(...history)), probe)).toEqual(outcome(stateOf(...history), probe));
    }
  });

  it('keeps idempotency keys for 35 days after their recording, measured by the newest recording', () => {
    const setup = [openParent(), purchase(1_000), createSub('a', { quota: 1_000 })];
    const state = stateOf(
      ...setup,
      useCredits('a', 'day-0', 1),
      useCredits('a', 'day-10', 1, {}, later(10 * day)),
      useCredits('a', 'day-35', 1, {}, later(USAGE_KEY_RETENTION_MS)),
    );
    expect(usageKeysOf(state).map(([, key]) => key)).toEqual(['day-10', 'day-35']);
    expect([...state.subAccounts.get('a')!.receipts.keys()]).toEqual(['day-10', 'day-35']);
    expect(ledgerImage(reload(state))).toEqual(ledgerImage(state));
  });

  it('forgets at most 16 expired keys per event, and decide ignores the expired ones still held', () => {
    const setup = [openParent(), purchase(1_000), createSub('a', { quota: 1_000 })];
    const early = Array.from({ length: 40 }, (_, index) => useCredits('a', `early-${index}`, 1));
    const jump = later(USAGE_KEY_RETENTION_MS + day);
    const state = stateOf(...setup, ...early, useCredits('a', 'after-jump', 1, {}, jump));
    expect(state.subAccounts.get('a')!.receipts.size).toBe(40 - 16 + 1);
    expect(decideWithResult(useCredits('a', 'early-39', 1, {}, jump), state).result).toMatchObject({
      replayed: false,
    });
    expect(ledgerImage(reload(state))).toEqual(ledgerImage(state));
  });

  it('keeps only the newest record of a key reused after it expired', () => {
    const setup = [openParent(), purchase(1_000), createSub('a', { quota: 1_000 })];
    const state = stateOf(
      ...setup,
      useCredits('a', 'reused', 1),
      useCredits('a', 'reused', 2, {}, later(USAGE_KEY_RETENTION_MS)),
    );
    expect(usageKeysOf(state)).toHaveLength(1);
    expect(usageKeysOf(state)[0][4]).toBe(1_000 - 3);
    expect(ledgerImage(reload(state))).toEqual(ledgerImage(state));
  });

  it('folds the tail after a snapshot to the same state as the full history', () => {
    const events = historyOf(
      ...history,
      useCredits('a', 'tail-1', 5),
      command('SetQuota', { subAccountId: 'a', quota: 4_000 }),
    );
    const cut = 9;
    const head = events.slice(0, cut).reduce(evolve, initialLedgerState());
    const fromSnapshotAndTail = events.slice(cut).reduce(evolve, reload(head));
    expect(ledgerImage(fromSnapshotAndTail)).toEqual(
      ledgerImage(events.reduce(evolve, initialLedgerState())),
    );
  });

  it('refuses a snapshot of another schema version', () => {
    expect(() => fromSnapshot({ ...toSnapshot(stateOf(openParent())), schemaVersion: 1 })).toThrow(
      'unsupported',
    );
    expect(() => fromSnapshot(null)).toThrow('unsupported');
  });
});
