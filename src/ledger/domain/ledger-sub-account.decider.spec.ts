import {
  NOW,
  allocate,
  closeSub,
  command,
  createSub,
  historyOf,
  issueKey,
  openParent,
  purchase,
  returnCredits,
  setQuota,
  spec,
  stateOf,
  useCredits,
} from './testing/ledger-fixtures';
import { subAccountView, parentView } from './ledger.queries';

const pool = (purchased: number, allocated: number, used: number) => ({
  purchased,
  allocated,
  available: purchased - allocated,
  used,
  expired: 0,
});
/** Every credit of these tests is of the one lot their history bought. */
const lot1 = (credits: number) => [{ lotId: 'lot-1', credits }];
const sub = (quota: number, used: number) => ({ quota, used, remaining: quota - used });

describe('ledger decider: sub-accounts and their credits', () => {
  const funded = historyOf(openParent(), purchase(20_000));

  describe('CreateSubAccount', () => {
    it.each([
      ['a NUL', 'a\u0000b'],
      ['a newline', 'a\nb'],
      ['a right-to-left override', 'a\u202Eb'],
      ['a first-strong isolate', 'a\u2068b'],
      ['a lone surrogate', 'a\uDC00b'],
    ])('refuses a name or region with %s (SPEC §7), whoever the caller', (_label, text) => {
      const create = (data: Record<string, unknown>) =>
        command('CreateSubAccount', {
          subAccountId: 'a',
          name: 'A',
          billingModel: 'bill-to-parent',
          ...data,
        });
      spec
        .given(funded)
        .when(create({ name: text }))
        .thenFails('validation_failed');
      spec
        .given(funded)
        .when(create({ region: text }))
        .thenFails('validation_failed');
    });

    it('takes names in any script, with accents and emoji', () => {
      const name = 'Café ☕ مرحبا עברית 🚀';
      const created = stateOf(
        openParent(),
        command('CreateSubAccount', { subAccountId: 'a', name, billingModel: 'bill-to-parent' }),
      );
      expect(created.subAccounts.get('a')?.name).toBe(name);
    });

    it('creates the sub-account with its initial quota in one decision', () => {
      spec
        .given(funded)
        .when(createSub('brand-a', { region: 'eu-west', quota: 5_000, creditPrice: '0.0020' }))
        .then([
          {
            type: 'SubAccountCreated',
            data: {
              subAccountId: 'brand-a',
              name: 'Client brand-a',
              region: 'eu-west',
              billingModel: 'bill-to-parent',
              creditPrice: '0.0020',
              createdAt: NOW.toISOString(),
            },
          },
          {
            type: 'QuotaAllocated',
            data: {
              subAccountId: 'brand-a',
              credits: 5_000,
              reason: 'initial-quota',
              balancesAfter: { subAccount: sub(5_000, 0), pool: pool(20_000, 5_000, 0) },
              portions: lot1(5_000),
            },
          },
        ]);
    });

    it('creates without a quota movement when no quota is given', () => {
      spec
        .given(funded)
        .when(createSub('brand-a', { billingModel: 'bill-to-sub-account' }))
        .then([
          {
            type: 'SubAccountCreated',
            data: {
              subAccountId: 'brand-a',
              name: 'Client brand-a',
              region: null,
              billingModel: 'bill-to-sub-account',
              creditPrice: null,
              createdAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('refuses an initial quota larger than the pool, recording not even the sub-account (rule 6)', () => {
      spec
        .given(funded)
        .when(createSub('brand-a', { quota: 20_001 }))
        .thenFails('insufficient_pool');
    });

    it('refuses a duplicate id, closed or not', () => {
      spec
        .given(historyOf(openParent(), createSub('a')))
        .when(createSub('a'))
        .thenFails('already_exists');
      spec
        .given(historyOf(openParent(), createSub('a'), closeSub('a')))
        .when(createSub('a'))
        .thenFails('already_exists');
    });

    it('refuses an unknown billing model', () => {
      spec
        .given(funded)
        .when(createSub('a', { billingModel: 'bill-to-nobody' as never }))
        .thenFails('validation_failed');
    });
  });

  describe('AllocateQuota (rule 1)', () => {
    const withSub = historyOf(openParent(), purchase(20_000), createSub('a'));

    it('moves credits from the pool to the quota', () => {
      spec
        .given(withSub)
        .when(allocate('a', 8_000))
        .then([
          {
            type: 'QuotaAllocated',
            data: {
              subAccountId: 'a',
              credits: 8_000,
              reason: 'allocation',
              balancesAfter: { subAccount: sub(8_000, 0), pool: pool(20_000, 8_000, 0) },
              portions: lot1(8_000),
            },
          },
        ]);
    });

    it('allocates the whole pool down to exactly 0 available', () => {
      spec
        .given(withSub)
        .when(allocate('a', 20_000))
        .then([
          {
            type: 'QuotaAllocated',
            data: {
              subAccountId: 'a',
              credits: 20_000,
              reason: 'allocation',
              balancesAfter: { subAccount: sub(20_000, 0), pool: pool(20_000, 20_000, 0) },
              portions: lot1(20_000),
            },
          },
        ]);
    });

    it('refuses one credit more than the pool holds', () => {
      spec
        .given(withSub)
        .when(allocate('a', 20_001))
        .thenFails('insufficient_pool', /20000 available/);
    });

    it('refuses 0 and more than 10^12 credits', () => {
      spec.given(withSub).when(allocate('a', 0)).thenFails('validation_failed');
      spec
        .given(withSub)
        .when(allocate('a', 1e12 + 1))
        .thenFails('validation_failed');
    });

    it('refuses an unknown or closed sub-account (rule 10)', () => {
      spec.given(withSub).when(allocate('nobody', 1)).thenFails('not_found');
      spec
        .given(historyOf(openParent(), purchase(10), createSub('a'), closeSub('a')))
        .when(allocate('a', 1))
        .thenFails('sub_account_closed');
    });
  });

  describe('SetQuota and ReturnCredits (rule 3)', () => {
    const shortPixelCommands = [
      openParent(),
      purchase(20_000),
      createSub('sp'),
      allocate('sp', 8_000),
      useCredits('sp', 'job-1', 2_000),
    ];
    const shortPixel = historyOf(...shortPixelCommands);

    it("holds ShortPixel's example exactly: quota 8,000 with 2,000 used, set to 2,000 → 6,000 back", () => {
      spec
        .given(shortPixel)
        .when(setQuota('sp', 2_000))
        .then([
          {
            type: 'CreditsReturned',
            data: {
              subAccountId: 'sp',
              credits: 6_000,
              reason: 'quota-lowered',
              balancesAfter: {
                subAccount: { quota: 2_000, used: 2_000, remaining: 0 },
                pool: pool(20_000, 2_000, 2_000),
              },
              portions: lot1(6_000),
            },
          },
        ]);
      const state = stateOf(...shortPixelCommands, setQuota('sp', 2_000));
      expect(parentView(state, NOW).pool.available).toBe(18_000);
      expect(subAccountView(state, 'sp', NOW).remaining).toBe(0);
    });

    it('refuses a quota below what was used', () => {
      spec.given(shortPixel).when(setQuota('sp', 1_999)).thenFails('quota_below_used');
    });

    it('raises the quota by allocating the difference', () => {
      spec
        .given(shortPixel)
        .when(setQuota('sp', 10_000))
        .then([
          {
            type: 'QuotaAllocated',
            data: {
              subAccountId: 'sp',
              credits: 2_000,
              reason: 'quota-raised',
              balancesAfter: { subAccount: sub(10_000, 2_000), pool: pool(20_000, 10_000, 2_000) },
              portions: lot1(2_000),
            },
          },
        ]);
    });

    it('refuses a raise beyond the pool (rule 1)', () => {
      spec.given(shortPixel).when(setQuota('sp', 20_001)).thenFails('insufficient_pool');
    });

    it('records nothing when the quota is already that total', () => {
      spec.given(shortPixel).when(setQuota('sp', 8_000)).thenNothingHappens();
    });

    it('holds a quota set to 10^12 per operation: the quota given and the difference it moves (rule 4)', () => {
      const big = historyOf(openParent(), purchase(1e12), purchase(1e12), purchase(1e12), createSub('b'));
      spec
        .given(big)
        .when(setQuota('b', 1e12 + 1))
        .thenFails('validation_failed');
      spec.given(big).when(setQuota('b', 2.5e12)).thenFails('validation_failed');
      const twoTrillion = historyOf(
        openParent(),
        purchase(1e12),
        purchase(1e12),
        createSub('b'),
        allocate('b', 1e12),
        allocate('b', 1e12),
      );
      spec.given(twoTrillion).when(setQuota('b', 0)).thenFails('validation_failed');
      spec
        .given(twoTrillion)
        .when(setQuota('b', 1e12))
        .then([
          {
            type: 'CreditsReturned',
            data: {
              subAccountId: 'b',
              credits: 1e12,
              reason: 'quota-lowered',
              balancesAfter: { subAccount: sub(1e12, 0), pool: pool(2e12, 1e12, 0) },
              portions: [{ lotId: 'lot-2', credits: 1e12 }],
            },
          },
        ]);
    });

    it('refuses a negative or fractional quota', () => {
      spec.given(shortPixel).when(setQuota('sp', -1)).thenFails('validation_failed');
      spec.given(shortPixel).when(setQuota('sp', 2_000.5)).thenFails('validation_failed');
    });

    it('returns a given number of credits', () => {
      spec
        .given(shortPixel)
        .when(returnCredits('sp', 1_000))
        .then([
          {
            type: 'CreditsReturned',
            data: {
              subAccountId: 'sp',
              credits: 1_000,
              reason: 'return',
              balancesAfter: { subAccount: sub(7_000, 2_000), pool: pool(20_000, 7_000, 2_000) },
              portions: lot1(1_000),
            },
          },
        ]);
    });

    it('returns everything unused when no amount is given', () => {
      spec
        .given(shortPixel)
        .when(returnCredits('sp'))
        .then([
          {
            type: 'CreditsReturned',
            data: {
              subAccountId: 'sp',
              credits: 6_000,
              reason: 'return',
              balancesAfter: { subAccount: sub(2_000, 2_000), pool: pool(20_000, 2_000, 2_000) },
              portions: lot1(6_000),
            },
          },
        ]);
    });

    it('records nothing for "return all" when nothing is unused', () => {
      spec
        .given(historyOf(...shortPixelCommands, setQuota('sp', 2_000)))
        .when(returnCredits('sp'))
        .thenNothingHappens();
    });

    it('refuses to return more than is unused', () => {
      spec
        .given(shortPixel)
        .when(returnCredits('sp', 6_001))
        .thenFails('quota_below_used', /only 6000 unused/);
    });
  });

  describe('UpdateSubAccount (rule 7)', () => {
    const withSub = historyOf(openParent(), createSub('a'));

    it('renames at once; billing model and price change from the next period', () => {
      spec
        .given(withSub)
        .when(
          command('UpdateSubAccount', {
            subAccountId: 'a',
            name: 'Brand A',
            billingModel: 'bill-to-sub-account',
            creditPrice: '0.0015',
          }),
        )
        .then([
          { type: 'SubAccountRenamed', data: { subAccountId: 'a', name: 'Brand A' } },
          {
            type: 'BillingModelChanged',
            data: {
              subAccountId: 'a',
              billingModel: 'bill-to-sub-account',
              effectiveFrom: '2026-11',
              changedAt: NOW.toISOString(),
            },
          },
          {
            type: 'CreditPriceChanged',
            data: {
              scope: 'sub-account',
              subAccountId: 'a',
              creditPrice: '0.0015',
              effectiveFrom: '2026-11',
              changedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('records nothing for the terms already in force next period', () => {
      spec
        .given(withSub)
        .when(
          command('UpdateSubAccount', {
            subAccountId: 'a',
            billingModel: 'bill-to-parent',
            creditPrice: null,
          }),
        )
        .thenNothingHappens();
    });

    it('drops an own price with null', () => {
      spec
        .given(historyOf(openParent(), createSub('a', { creditPrice: '0.5' })))
        .when(command('UpdateSubAccount', { subAccountId: 'a', creditPrice: null }))
        .then([
          {
            type: 'CreditPriceChanged',
            data: {
              scope: 'sub-account',
              subAccountId: 'a',
              creditPrice: null,
              effectiveFrom: '2026-11',
              changedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('refuses changes to a closed sub-account', () => {
      spec
        .given(historyOf(openParent(), createSub('a'), closeSub('a')))
        .when(command('UpdateSubAccount', { subAccountId: 'a', name: 'x' }))
        .thenFails('sub_account_closed');
    });
  });

  describe('CloseSubAccount (rule 10)', () => {
    const busy = historyOf(
      openParent(),
      purchase(20_000),
      createSub('a', { quota: 8_000 }),
      issueKey('key-a1', 'a'),
      issueKey('key-a2', 'a'),
      command('RevokeApiKey', { keyId: 'key-a2', subAccountId: 'a' }),
      issueKey('key-a3', 'a'),
      useCredits('a', 'k1', 2_500),
    );

    it('returns every unused credit and revokes every active key in the same decision', () => {
      spec
        .given(busy)
        .when(closeSub('a'))
        .then([
          {
            type: 'SubAccountClosed',
            data: {
              subAccountId: 'a',
              closedAt: NOW.toISOString(),
              returnedCredits: 5_500,
              balancesAfter: { subAccount: sub(2_500, 2_500), pool: pool(20_000, 2_500, 2_500) },
              portions: lot1(5_500),
            },
          },
          {
            type: 'ApiKeyRevoked',
            data: {
              keyId: 'key-a1',
              subAccountId: 'a',
              reason: 'sub-account-closed',
              revokedAt: NOW.toISOString(),
            },
          },
          {
            type: 'ApiKeyRevoked',
            data: {
              keyId: 'key-a3',
              subAccountId: 'a',
              reason: 'sub-account-closed',
              revokedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    const afterClose = historyOf(
      openParent(),
      purchase(20_000),
      createSub('a', { quota: 8_000 }),
      issueKey('key-a1', 'a'),
      useCredits('a', 'k1', 2_500),
      closeSub('a'),
    );

    it('then accepts no usage, allocation, quota, return or key', () => {
      spec
        .given(afterClose)
        .when(useCredits('a', 'k2', 0))
        .thenFails('sub_account_closed');
      spec.given(afterClose).when(allocate('a', 1)).thenFails('sub_account_closed');
      spec.given(afterClose).when(setQuota('a', 2_500)).thenFails('sub_account_closed');
      spec.given(afterClose).when(returnCredits('a')).thenFails('sub_account_closed');
      spec.given(afterClose).when(issueKey('key-new', 'a')).thenFails('sub_account_closed');
    });

    it('takes a second close as a repeat of the first: nothing recorded (like a period close)', () => {
      spec.given(afterClose).when(closeSub('a')).thenNothingHappens();
    });

    it('keeps answering a repeat of usage stored before the closing (rule 5 wins over rule 10)', () => {
      spec
        .given(afterClose)
        .when(useCredits('a', 'k1', 2_500))
        .thenNothingHappens();
    });
  });

  describe('API keys', () => {
    const withSub = historyOf(openParent(), createSub('a'), issueKey('key-a1', 'a'));

    it('issues a sub-account key with the hash the application computed', () => {
      spec
        .given(withSub)
        .when(issueKey('key-a2', 'a'))
        .then([
          {
            type: 'ApiKeyIssued',
            data: {
              keyId: 'key-a2',
              prefix: 'sl_key-a2',
              secretHash: 'hash-key-a2',
              subAccountId: 'a',
              issuedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('refuses a reused key id and an unknown sub-account', () => {
      spec.given(withSub).when(issueKey('key-a1', 'a')).thenFails('already_exists');
      spec.given(withSub).when(issueKey('key-b1', 'b')).thenFails('not_found');
    });

    it('revokes a key once; a repeat records nothing', () => {
      const revoke = command('RevokeApiKey', { keyId: 'key-a1', subAccountId: 'a' });
      spec
        .given(withSub)
        .when(revoke)
        .then([
          {
            type: 'ApiKeyRevoked',
            data: { keyId: 'key-a1', subAccountId: 'a', reason: 'revoked', revokedAt: NOW.toISOString() },
          },
        ]);
      spec
        .given(historyOf(openParent(), createSub('a'), issueKey('key-a1', 'a'), revoke))
        .when(revoke)
        .thenNothingHappens();
    });

    it('does not find a key under another owner than its own', () => {
      spec
        .given(historyOf(openParent(), createSub('a'), createSub('b'), issueKey('key-a1', 'a')))
        .when(command('RevokeApiKey', { keyId: 'key-a1', subAccountId: 'b' }))
        .thenFails('not_found');
      spec
        .given(withSub)
        .when(command('RevokeApiKey', { keyId: 'key-parent', subAccountId: 'a' }))
        .thenFails('not_found');
    });
  });
});
