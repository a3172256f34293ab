import type { InvoiceIssued, LedgerEvent } from './ledger.events';
import { invoicesOfOpenPeriod } from './ledger.invoices';
import { fromSnapshot, toSnapshot } from './ledger.snapshot';
import { evolve, initialLedgerState } from './ledger.state';
import { decide } from './ledger.decider';
import {
  allocate,
  closePeriod,
  closeSub,
  command,
  createSub,
  historyOf,
  openParent,
  purchase,
  useCredits,
} from './testing/ledger-fixtures';

const october = (day: number) => new Date(`2026-10-${String(day).padStart(2, '0')}T12:00:00.000Z`);
const november = (day: number) => new Date(`2026-11-${String(day).padStart(2, '0')}T12:00:00.000Z`);

function invoicesIn(events: readonly LedgerEvent[]): InvoiceIssued['data'][] {
  return events.flatMap((event) => (event.type === 'InvoiceIssued' ? [event.data] : []));
}

// EUR, parent price 0.001; `agency` pays for `a`, `b` pays its own invoice at 0.005.
const octoberHistory = [
  openParent(october(1)),
  purchase(100_000),
  createSub('a', {}, october(2)),
  createSub('b', { billingModel: 'bill-to-sub-account', creditPrice: '0.005' }, october(2)),
  allocate('a', 10_000),
  allocate('b', 10_000),
  useCredits('a', 'a1', 1_500, { meter: 'api', occurredAt: october(3).toISOString() }),
  useCredits('a', 'a2', 500, { meter: 'api', occurredAt: october(4).toISOString() }),
  useCredits('a', 'a3', 3, { meter: 'storage', occurredAt: october(5).toISOString() }),
  useCredits('b', 'b1', 5, { occurredAt: october(6).toISOString() }),
  // Rule 7: decided in October, so it applies from November.
  command('UpdateSubAccount', { subAccountId: 'a', creditPrice: '0.002' }, october(20)),
];

describe('ledger: closing a period issues its invoices in the same decision', () => {
  it('bills each sub-account under its October terms, rounding each line half-even', () => {
    const events = historyOf(...octoberHistory, closePeriod('2026-10', november(1)));
    const [parentInvoice, bInvoice] = invoicesIn(events);
    // a: api 2,000 × 0.001 = 2.00; storage 3 × 0.001 = 0.3 cent → 0.
    expect(parentInvoice).toMatchObject({
      invoiceId: 'inv-acme-2026-10-parent',
      number: 'acme-2026-000001',
      totalMinor: '200',
      sections: [
        {
          subAccountId: 'a',
          lines: [
            { meter: 'api', unitPrice: '0.001', credits: '2000', amountMinor: '200' },
            { meter: 'storage', unitPrice: '0.001', credits: '3', amountMinor: '0' },
          ],
          lateLines: [],
        },
      ],
    });
    // b: 5 × 0.005 = 2.5 cents → 2 (the even neighbour).
    expect(bInvoice).toMatchObject({
      invoiceId: 'inv-acme-2026-10-sub-b',
      number: 'acme-2026-000002',
      billTo: { type: 'sub-account', id: 'b' },
      totalMinor: '2',
    });
    expect(events.at(-3)?.type).toBe('BillingPeriodClosed');
  });

  it('bills late usage in the next period at the terms of the period it occurred in', () => {
    const events = historyOf(
      ...octoberHistory,
      closePeriod('2026-10', november(1)),
      useCredits('a', 'late', 7, { meter: 'api', occurredAt: october(20).toISOString() }, november(3)),
      useCredits('a', 'nov', 10, { meter: 'api' }, november(4)),
      closePeriod('2026-11', new Date('2026-12-01T00:00:00Z')),
    );
    const late = events.find(
      (event) => event.type === 'UsageRecorded' && event.data.usageId === 'usage-late',
    );
    expect(late?.type === 'UsageRecorded' && [late.data.billingPeriod, late.data.late]).toEqual([
      '2026-11',
      true,
    ]);
    const novemberInvoices = invoicesIn(events).filter((invoice) => invoice.period === '2026-11');
    expect(novemberInvoices.map((invoice) => invoice.sequence)).toEqual([3, 4]);
    expect(novemberInvoices[0].sections[0]).toMatchObject({
      subAccountId: 'a',
      // 10 × 0.002 = 2 cents.
      lines: [{ meter: 'api', unitPrice: '0.002', credits: '10', amountMinor: '2' }],
      // 7 × 0.001 (October's price) = 0.7 cent → 1.
      lateLines: [
        {
          originalPeriod: '2026-10',
          unitPrice: '0.001',
          credits: '7',
          amountMinor: '1',
          usage: [{ usageId: 'usage-late', occurredAt: october(20).toISOString(), credits: '7' }],
        },
      ],
      subtotalMinor: '3',
    });
  });

  it('leaves out sub-accounts created after the period or closed before it', () => {
    const events = historyOf(
      openParent(october(1)),
      createSub('gone', {}, october(1)),
      closeSub('gone', october(2)),
      closePeriod('2026-10', november(1)),
      createSub('new', {}, november(2)),
      closePeriod('2026-11', new Date('2026-12-01T00:00:00Z')),
    );
    const sectionsOf = (period: string) =>
      invoicesIn(events)
        .filter((invoice) => invoice.period === period)
        .flatMap((invoice) => invoice.sections.map((section) => section.subAccountId));
    expect(sectionsOf('2026-10')).toEqual(['gone']);
    expect(sectionsOf('2026-11')).toEqual(['new']);
  });

  it('decides the same invoices from a snapshot as from the whole history', () => {
    const history = historyOf(...octoberHistory);
    const full = history.reduce(evolve, initialLedgerState());
    const restored = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(full))));
    expect(toSnapshot(restored)).toEqual(toSnapshot(full));
    const close = closePeriod('2026-10', november(1));
    expect(decide(close, restored)).toEqual(decide(close, full));
  });

  it('drafts exactly what a close at that instant would issue, and forgets a closed period', () => {
    const state = historyOf(...octoberHistory).reduce(evolve, initialLedgerState());
    const draft = invoicesOfOpenPeriod(state, '2026-10', november(1));
    const closed = decide(closePeriod('2026-10', november(1)), state);
    expect(invoicesIn(closed)).toEqual(draft);
    for (const event of closed) evolve(state, event);
    expect(state.billableUsage.has('2026-10')).toBe(false);
  });
});
