import { MAX_CREDITS_PER_OPERATION, MAX_TOTAL_CREDITS } from './credits';
import type { LedgerEvent } from './ledger.events';
import {
  NOW,
  PARENT_ID,
  command,
  historyOf,
  issueKey,
  openParent,
  purchase,
  spec,
} from './testing/ledger-fixtures';

describe('ledger decider: parent account', () => {
  describe('OpenParentAccount', () => {
    it('opens the parent and issues its parent key in the same decision', () => {
      spec
        .given([])
        .when(openParent())
        .then([
          {
            type: 'ParentAccountOpened',
            data: {
              parentId: PARENT_ID,
              name: 'Acme Agency',
              currency: 'EUR',
              creditPrice: '0.001',
              openedAt: NOW.toISOString(),
            },
          },
          {
            type: 'ApiKeyIssued',
            data: {
              keyId: 'key-parent',
              prefix: 'sl_p_acme',
              secretHash: 'hash-parent',
              subAccountId: null,
              issuedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('refuses to open the same parent twice', () => {
      spec.given(historyOf(openParent())).when(openParent()).thenFails('already_exists');
    });

    it.each([
      ['a lowercase currency', { currency: 'eur' }],
      ['a four-letter currency', { currency: 'EURO' }],
      ['a float price', { creditPrice: 0.001 as unknown as string }],
      ['a negative price', { creditPrice: '-0.1' }],
      ['an exponent price', { creditPrice: '1e-3' }],
      ['a blank name', { name: '   ' }],
      ['an id with a slash', { parentId: 'a/b' }],
    ])('refuses %s', (_label, override) => {
      const open = openParent();
      spec
        .given([])
        .when({ ...open, data: { ...open.data, ...override } })
        .thenFails('validation_failed');
    });

    it('keeps the price as written, in the grammar billing accepts', () => {
      const open = openParent();
      const [opened] = historyOf({ ...open, data: { ...open.data, creditPrice: '0.00990' } });
      expect(opened).toMatchObject({ data: { creditPrice: '0.00990' } });
      for (const creditPrice of ['00.1', '0.1234567890123', '1234567890', '.5', '1.']) {
        spec
          .given([])
          .when({ ...open, data: { ...open.data, creditPrice } })
          .thenFails('validation_failed');
      }
    });
  });

  describe('PurchaseCredits', () => {
    it('adds to the pool and states the pool after it', () => {
      spec
        .given(historyOf(openParent(), purchase(5_000)))
        .when(command('PurchaseCredits', { credits: 20_000, reference: 'PO-17' }))
        .then([
          {
            type: 'CreditsPurchased',
            data: {
              credits: 20_000,
              reference: 'PO-17',
              purchasedAt: NOW.toISOString(),
              balancesAfter: {
                pool: { purchased: 25_000, allocated: 0, available: 25_000, used: 0, expired: 0 },
              },
              lotId: 'lot-2',
              kind: 'paid',
              expiresAt: null,
              priority: 50,
            },
            metadata: { schemaVersion: 2 },
          } as LedgerEvent,
        ]);
    });

    it('accepts 10^12 credits in one purchase (rule 4 upper bound)', () => {
      spec
        .given(historyOf(openParent()))
        .when(purchase(MAX_CREDITS_PER_OPERATION))
        .then([
          {
            type: 'CreditsPurchased',
            data: {
              credits: 1e12,
              reference: null,
              purchasedAt: NOW.toISOString(),
              balancesAfter: {
                pool: { purchased: 1e12, allocated: 0, available: 1e12, used: 0, expired: 0 },
              },
              lotId: 'lot-1',
              kind: 'paid',
              expiresAt: null,
              priority: 50,
            },
            metadata: { schemaVersion: 2 },
          } as LedgerEvent,
        ]);
    });

    it.each([0, -1, 1.5, 1e12 + 1, Number.NaN])('refuses %p credits', (credits) => {
      spec.given(historyOf(openParent())).when(purchase(credits)).thenFails('validation_failed');
    });

    it('refuses credits sent as a string', () => {
      spec
        .given(historyOf(openParent()))
        .when(purchase('100' as unknown as number))
        .thenFails('validation_failed');
    });

    it('refuses the purchase that would take the pool past 2^53 − 1, so every total stays exact', () => {
      const purchases = Math.floor(MAX_TOTAL_CREDITS / MAX_CREDITS_PER_OPERATION);
      const history = historyOf(openParent(), ...Array.from({ length: purchases }, () => purchase(1e12)));
      const purchased = purchases * 1e12;
      spec
        .given(history)
        .when(purchase(MAX_TOTAL_CREDITS - purchased + 1))
        .thenFails('limit_exceeded');
      spec
        .given(history)
        .when(purchase(MAX_TOTAL_CREDITS - purchased))
        .then([
          {
            type: 'CreditsPurchased',
            data: {
              credits: MAX_TOTAL_CREDITS - purchased,
              reference: null,
              purchasedAt: NOW.toISOString(),
              balancesAfter: {
                pool: {
                  purchased: MAX_TOTAL_CREDITS,
                  allocated: 0,
                  available: MAX_TOTAL_CREDITS,
                  used: 0,
                  expired: 0,
                },
              },
              lotId: `lot-${purchases + 1}`,
              kind: 'paid',
              expiresAt: null,
              priority: 50,
            },
            metadata: { schemaVersion: 2 },
          } as LedgerEvent,
        ]);
    });

    it('needs an opened parent', () => {
      spec.given([]).when(purchase(10)).thenFails('not_found');
    });
  });

  describe('UpdateParentAccount', () => {
    it('renames at once and changes the price from the next period (rule 7)', () => {
      spec
        .given(historyOf(openParent()))
        .when(command('UpdateParentAccount', { name: 'Acme Group', creditPrice: '0.00099' }))
        .then([
          { type: 'ParentAccountRenamed', data: { name: 'Acme Group' } },
          {
            type: 'CreditPriceChanged',
            data: {
              scope: 'parent',
              subAccountId: null,
              creditPrice: '0.00099',
              effectiveFrom: '2026-11',
              changedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('records nothing when nothing changes', () => {
      spec
        .given(historyOf(openParent()))
        .when(command('UpdateParentAccount', { name: 'Acme Agency', creditPrice: '0.0010' }))
        .thenNothingHappens();
    });

    it('records a change back to the current price while another is pending, so the last one wins', () => {
      spec
        .given(historyOf(openParent(), command('UpdateParentAccount', { creditPrice: '0.002' })))
        .when(command('UpdateParentAccount', { creditPrice: '0.001' }))
        .then([
          {
            type: 'CreditPriceChanged',
            data: {
              scope: 'parent',
              subAccountId: null,
              creditPrice: '0.001',
              effectiveFrom: '2026-11',
              changedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('refuses an empty change and a bad price without recording the valid part', () => {
      spec
        .given(historyOf(openParent()))
        .when(command('UpdateParentAccount', {}))
        .thenFails('validation_failed');
      spec
        .given(historyOf(openParent()))
        .when(command('UpdateParentAccount', { name: 'New name', creditPrice: 'cheap' }))
        .thenFails('validation_failed');
    });
  });

  describe('parent keys (rotation)', () => {
    const revoke = (keyId: string) => command('RevokeApiKey', { keyId, subAccountId: null });

    it('issues another parent key and revokes the first once a second is active', () => {
      spec
        .given(historyOf(openParent(), issueKey('key-2', null)))
        .when(revoke('key-parent'))
        .then([
          {
            type: 'ApiKeyRevoked',
            data: {
              keyId: 'key-parent',
              subAccountId: null,
              reason: 'revoked',
              revokedAt: NOW.toISOString(),
            },
          },
        ]);
    });

    it('refuses to revoke the last active parent key (last_parent_key)', () => {
      spec.given(historyOf(openParent())).when(revoke('key-parent')).thenFails('last_parent_key');
      spec
        .given(historyOf(openParent(), issueKey('key-2', null), revoke('key-parent')))
        .when(revoke('key-2'))
        .thenFails('last_parent_key');
    });

    it('revoking a revoked parent key records nothing, even when only one is left', () => {
      spec
        .given(historyOf(openParent(), issueKey('key-2', null), revoke('key-parent')))
        .when(revoke('key-parent'))
        .thenNothingHappens();
    });

    it('does not find a sub-account key under the parent (not_found)', () => {
      spec
        .given(
          historyOf(
            openParent(),
            command('CreateSubAccount', { subAccountId: 'a', name: 'A', billingModel: 'bill-to-parent' }),
            issueKey('key-a', 'a'),
          ),
        )
        .when(revoke('key-a'))
        .thenFails('not_found');
    });
  });
});
