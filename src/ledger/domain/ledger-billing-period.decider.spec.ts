import type { LedgerEvent } from './ledger.events';
import { termsFor, subAccountView, parentView } from './ledger.queries';
import { evolve } from './ledger.state';
import {
  NOW,
  closePeriod,
  command,
  createSub,
  historyOf,
  openParent,
  spec,
  stateOf,
} from './testing/ledger-fixtures';

const endOfOctober = new Date('2026-11-01T00:00:00.000Z');

describe('ledger decider: billing periods and terms', () => {
  describe('CloseBillingPeriod', () => {
    it('closes a period from the first instant after it', () => {
      spec
        .given(historyOf(openParent()))
        .when(closePeriod('2026-10', endOfOctober))
        .then([
          { type: 'BillingPeriodClosed', data: { period: '2026-10', closedAt: endOfOctober.toISOString() } },
          {
            type: 'InvoiceIssued',
            data: {
              invoiceId: 'inv-acme-2026-10-parent',
              number: 'acme-2026-000001',
              sequence: 1,
              parentId: 'acme',
              period: '2026-10',
              currency: 'EUR',
              billTo: { type: 'parent', id: 'acme' },
              sections: [],
              subtotalMinor: '0',
              totalMinor: '0',
              subtotal: '0.00',
              total: '0.00',
              issuedAt: endOfOctober.toISOString(),
            },
          },
        ]);
    });

    it('refuses a period that has not ended', () => {
      spec
        .given(historyOf(openParent()))
        .when(closePeriod('2026-10', new Date(endOfOctober.getTime() - 1)))
        .thenFails('period_not_ended');
    });

    it('refuses to close a period twice, so its invoices are issued once (rule 8)', () => {
      spec
        .given(historyOf(openParent(), closePeriod('2026-10', endOfOctober)))
        .when(closePeriod('2026-10', new Date('2026-12-05T00:00:00Z')))
        .thenFails('period_already_closed');
    });

    it('refuses a malformed period and one before the parent existed', () => {
      spec
        .given(historyOf(openParent()))
        .when(closePeriod('2026-9', endOfOctober))
        .thenFails('validation_failed');
      spec
        .given(historyOf(openParent()))
        .when(closePeriod('2026-13', endOfOctober))
        .thenFails('validation_failed');
      spec
        .given(historyOf(openParent()))
        .when(closePeriod('2026-09', endOfOctober))
        .thenFails('validation_failed');
    });

    it('needs an opened parent', () => {
      spec.given([]).when(closePeriod('2026-10', endOfOctober)).thenFails('not_found');
    });
  });

  describe('rule 7: terms change from the next period', () => {
    const november = new Date('2026-11-10T00:00:00Z');
    const history = [
      openParent(),
      createSub('own-price', { creditPrice: '0.002' }),
      createSub('parent-price'),
      command('UpdateSubAccount', {
        subAccountId: 'own-price',
        billingModel: 'bill-to-sub-account',
        creditPrice: '0.003',
      }),
      command('UpdateSubAccount', { subAccountId: 'parent-price', creditPrice: '0.004' }),
      command('UpdateParentAccount', { creditPrice: '0.0009' }),
    ];

    it('invoices the current period under the terms it started with', () => {
      const state = stateOf(...history);
      expect(termsFor(state, 'own-price', '2026-10')).toEqual({
        billingModel: 'bill-to-parent',
        creditPrice: '0.002',
        currency: 'EUR',
      });
      expect(termsFor(state, 'parent-price', '2026-10')).toEqual({
        billingModel: 'bill-to-parent',
        creditPrice: '0.001',
        currency: 'EUR',
      });
    });

    it('applies the changes from the next period on', () => {
      const state = stateOf(...history);
      for (const period of ['2026-11', '2027-06']) {
        expect(termsFor(state, 'own-price', period)).toEqual({
          billingModel: 'bill-to-sub-account',
          creditPrice: '0.003',
          currency: 'EUR',
        });
        expect(termsFor(state, 'parent-price', period).creditPrice).toBe('0.004');
      }
    });

    it("falls back to the parent's price of the period when the own price is dropped", () => {
      const state = stateOf(
        ...history,
        command('UpdateSubAccount', { subAccountId: 'own-price', creditPrice: null }, november),
      );
      expect(termsFor(state, 'own-price', '2026-11').creditPrice).toBe('0.003');
      expect(termsFor(state, 'own-price', '2026-12').creditPrice).toBe('0.0009');
    });

    it('keeps only the last change decided within one period', () => {
      const state = stateOf(
        openParent(),
        createSub('a'),
        command('UpdateSubAccount', { subAccountId: 'a', billingModel: 'bill-to-sub-account' }),
        command('UpdateSubAccount', { subAccountId: 'a', billingModel: 'bill-to-parent' }),
      );
      expect(termsFor(state, 'a', '2026-11').billingModel).toBe('bill-to-parent');
      expect(subAccountView(state, 'a', NOW)).not.toHaveProperty('pendingBillingModel');
    });

    it('shows the pending model and price until the next period starts', () => {
      const state = stateOf(...history);
      expect(subAccountView(state, 'own-price', NOW)).toMatchObject({
        billingModel: 'bill-to-parent',
        pendingBillingModel: 'bill-to-sub-account',
      });
      expect(parentView(state, NOW)).toMatchObject({ creditPrice: '0.001', pendingCreditPrice: '0.0009' });
      const inNovember = subAccountView(state, 'own-price', november);
      expect(inNovember.billingModel).toBe('bill-to-sub-account');
      expect(inNovember).not.toHaveProperty('pendingBillingModel');
      expect(parentView(state, november)).not.toHaveProperty('pendingCreditPrice');
    });

    it('answers periods before a sub-account existed with its first terms', () => {
      const state = stateOf(...history);
      expect(termsFor(state, 'own-price', '2026-09').creditPrice).toBe('0.002');
    });
  });

  it('counts issued invoices for per-parent numbering and ignores event types it does not know', () => {
    const state = stateOf(openParent(), createSub('own', { billingModel: 'bill-to-sub-account' }));
    const closed = historyOf(
      openParent(),
      createSub('own', { billingModel: 'bill-to-sub-account' }),
      closePeriod('2026-10', endOfOctober),
    ).slice(-3);
    for (const event of closed) evolve(state, event);
    evolve(state, { type: 'SomethingFromTheFuture', data: {} } as unknown as LedgerEvent);
    expect(state.invoicesIssued).toBe(2);
    expect(state.lastRevision).toBe(6);
    expect(state.closings.get('2026-10')).toEqual({
      period: '2026-10',
      closedAt: endOfOctober.toISOString(),
      revision: 3,
      invoiceIds: ['inv-acme-2026-10-parent', 'inv-acme-2026-10-sub-own'],
    });
  });
});
