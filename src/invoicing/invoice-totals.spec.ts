import fc from 'fast-check';
import { BillingValidationError } from './billing-validation.error';
import { buildInvoices, type BillableUsage, type BuildInvoicesInput } from './invoice';

const base: Omit<BuildInvoicesInput, 'usage'> = {
  parent: { parentId: 'acme', currency: 'USD' },
  period: '2026-10',
  terms: [
    { subAccountId: 'a', name: 'A', billingModel: 'bill-to-parent', creditPrice: '0.0125' },
    { subAccountId: 'b', name: 'B', billingModel: 'bill-to-sub-account', creditPrice: '0.005' },
  ],
  issuedAt: '2026-11-01T00:00:00Z',
  nextSequence: 1,
};

describe('buildInvoices with on-time usage given as totals', () => {
  it('issues the same invoices as the records the totals sum', () => {
    const record = fc.record({
      subAccountId: fc.constantFrom('a', 'b'),
      meter: fc.constantFrom('api', 'images'),
      credits: fc.integer({ min: 0, max: 1_000_000 }),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 30 }), (records) => {
        const usage: BillableUsage[] = records.map((item, index) => ({
          ...item,
          usageId: `u${index}`,
          occurredAt: '2026-10-10T00:00:00Z',
          late: false,
        }));
        const totals = new Map<string, { subAccountId: string; meter: string; credits: bigint }>();
        for (const item of records) {
          const key = `${item.subAccountId}/${item.meter}`;
          const total = totals.get(key) ?? {
            subAccountId: item.subAccountId,
            meter: item.meter,
            credits: 0n,
          };
          total.credits += BigInt(item.credits);
          totals.set(key, total);
        }
        expect(buildInvoices({ ...base, usage: [], usageTotals: [...totals.values()] })).toEqual(
          buildInvoices({ ...base, usage }),
        );
      }),
    );
  });

  it('has no per-record bound: a month may sum past 10^12 credits', () => {
    const [invoice] = buildInvoices({
      ...base,
      usage: [],
      usageTotals: [{ subAccountId: 'a', meter: 'api', credits: 3_000_000_000_000n }],
    });
    // 3 × 10^12 × 0.0125 USD = 37,500,000,000 USD.
    expect(invoice.sections[0].lines[0]).toMatchObject({
      credits: '3000000000000',
      amountMinor: '3750000000000',
    });
  });

  it('refuses a total of a sub-account without terms', () => {
    expect(() =>
      buildInvoices({ ...base, usage: [], usageTotals: [{ subAccountId: 'zz', meter: 'api', credits: 1 }] }),
    ).toThrow(BillingValidationError);
  });
});
