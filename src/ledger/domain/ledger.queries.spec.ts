import { DomainError } from './domain-error';
import { apiKeysOf, billingPeriods, listSubAccounts, parentView, subAccountView } from './ledger.queries';
import {
  NOW,
  allocate,
  closePeriod,
  closeSub,
  command,
  createSub,
  issueKey,
  openParent,
  purchase,
  stateOf,
  useCredits,
} from './testing/ledger-fixtures';

describe('ledger queries', () => {
  it('shows the parent with its pool', () => {
    const state = stateOf(
      openParent(),
      purchase(20_000),
      createSub('a'),
      allocate('a', 8_000),
      useCredits('a', 'k', 2_000),
    );
    expect(parentView(state, NOW)).toEqual({
      id: 'acme',
      name: 'Acme Agency',
      currency: 'EUR',
      creditPrice: '0.001',
      openedAt: NOW.toISOString(),
      pool: { purchased: 20_000, allocated: 8_000, available: 12_000, used: 2_000, expired: 0 },
      alertThresholds: [80, 100],
      lowPoolThreshold: null,
    });
  });

  it('shows a sub-account with its balances and status', () => {
    const state = stateOf(
      openParent(),
      purchase(100),
      createSub('a', { region: 'eu', quota: 60 }),
      useCredits('a', 'k', 10),
      closeSub('a'),
    );
    expect(subAccountView(state, 'a', NOW)).toEqual({
      id: 'a',
      name: 'Client a',
      region: 'eu',
      status: 'closed',
      billingModel: 'bill-to-parent',
      quota: 10,
      used: 10,
      remaining: 0,
      expiring: [],
      recurringAllocation: null,
      createdAt: NOW.toISOString(),
      closedAt: NOW.toISOString(),
    });
  });

  it('answers not_found for a missing parent or sub-account', () => {
    expect(() => parentView(stateOf(), NOW)).toThrow(DomainError);
    expect(() => subAccountView(stateOf(openParent()), 'nope', NOW)).toThrow('not_found');
  });

  it('lists sub-accounts in id order, page by page, with an opaque cursor', () => {
    const ids = ['delta', 'Alpha', 'charlie', 'bravo', 'echo', 'alpha-2'];
    const state = stateOf(openParent(), ...ids.map((id) => createSub(id)));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = listSubAccounts(state, NOW, { cursor, limit: 4 });
      expect(page.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(['Alpha', 'alpha-2', 'bravo', 'charlie', 'delta', 'echo']);
  });

  it('sees sub-accounts created after the first page was served', () => {
    const state = stateOf(openParent(), createSub('b'), createSub('d'));
    const first = listSubAccounts(state, NOW, { limit: 1 });
    const later = stateOf(openParent(), createSub('b'), createSub('d'), createSub('c'));
    const second = listSubAccounts(later, NOW, { cursor: first.nextCursor!, limit: 10 });
    expect(second.items.map((item) => item.id)).toEqual(['c', 'd']);
    expect(second.nextCursor).toBeNull();
  });

  it('searches by id prefix, page by page, and ends where the prefix ends', () => {
    const ids = ['acme', 'acme-1', 'acme-2', 'acme-3', 'acmf', 'Acme-0', 'zeta'];
    const state = stateOf(openParent(), ...ids.map((id) => createSub(id)));
    const first = listSubAccounts(state, NOW, { idPrefix: 'acme-', limit: 2 });
    expect(first.items.map((item) => item.id)).toEqual(['acme-1', 'acme-2']);
    const second = listSubAccounts(state, NOW, { idPrefix: 'acme-', limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((item) => item.id)).toEqual(['acme-3']);
    expect(second.nextCursor).toBeNull();
    const exact = listSubAccounts(state, NOW, { idPrefix: 'acme-', limit: 3 });
    expect(exact.items.map((item) => item.id)).toEqual(['acme-1', 'acme-2', 'acme-3']);
    expect(exact.nextCursor).toBeNull();
    expect(listSubAccounts(state, NOW, { idPrefix: 'nobody' }).items).toEqual([]);
  });

  it('refuses a forged cursor and a limit out of 1..500', () => {
    const state = stateOf(openParent(), createSub('a'));
    expect(() => listSubAccounts(state, NOW, { cursor: 'not-a-cursor' })).toThrow('validation_failed');
    expect(() => listSubAccounts(state, NOW, { limit: 0 })).toThrow('validation_failed');
    expect(() => listSubAccounts(state, NOW, { limit: 501 })).toThrow('validation_failed');
  });

  it('lists keys without their hashes', () => {
    const state = stateOf(
      openParent(),
      createSub('a'),
      issueKey('key-a1', 'a'),
      command('RevokeApiKey', { keyId: 'key-a1', subAccountId: 'a' }),
    );
    expect(apiKeysOf(state, 'a')).toEqual([
      {
        keyId: 'key-a1',
        subAccountId: 'a',
        prefix: 'sl_key-a1',
        status: 'revoked',
        issuedAt: NOW.toISOString(),
        revokedAt: NOW.toISOString(),
      },
    ]);
    expect(apiKeysOf(state, null).map((key) => key.keyId)).toEqual(['key-parent']);
    expect(JSON.stringify(apiKeysOf(state, null))).not.toContain('hash');
  });

  it('lists billing periods from the opening to now with their status', () => {
    const state = stateOf(openParent(), closePeriod('2026-10', new Date('2026-11-01T00:00:00Z')));
    expect(billingPeriods(state, new Date('2027-01-03T00:00:00Z'))).toEqual([
      { period: '2026-10', status: 'closed' },
      { period: '2026-11', status: 'open' },
      { period: '2026-12', status: 'open' },
      { period: '2027-01', status: 'open' },
    ]);
  });
});
