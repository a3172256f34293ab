import fc from 'fast-check';
import { BillingValidationError } from './billing-validation.error';
import {
  BillableUsage,
  buildInvoices,
  BuildInvoicesInput,
  Invoice,
  invoiceNumber,
  PastPeriodTerms,
  SubAccountTerms,
} from './invoice';
import { lineAmountMinor } from './money';

const parent = { parentId: 'acme', currency: 'USD' };

const terms: SubAccountTerms[] = [
  { subAccountId: 'brand-b', name: 'Brand B', billingModel: 'bill-to-parent', creditPrice: '0.00099' },
  { subAccountId: 'brand-a', name: 'Brand A', billingModel: 'bill-to-parent', creditPrice: '0.004' },
  { subAccountId: 'client-z', name: 'Client Z', billingModel: 'bill-to-sub-account', creditPrice: '0.005' },
  { subAccountId: 'client-y', name: 'Client Y', billingModel: 'bill-to-sub-account', creditPrice: '0.01' },
  { subAccountId: 'env-idle', name: 'Idle env', billingModel: 'bill-to-parent', creditPrice: '0.00099' },
];

// September's terms: Brand A had another price and Client Z was still billed to the parent.
const pastTerms: PastPeriodTerms[] = [
  {
    period: '2026-09',
    subAccountId: 'brand-a',
    name: 'Brand A (old)',
    billingModel: 'bill-to-parent',
    creditPrice: '0.00003',
  },
  {
    period: '2026-09',
    subAccountId: 'client-z',
    name: 'Client Z',
    billingModel: 'bill-to-parent',
    creditPrice: '0.00004',
  },
];

const usage: BillableUsage[] = [
  {
    subAccountId: 'brand-b',
    usageId: 'u1',
    meter: 'images',
    credits: 1_000_000,
    occurredAt: '2026-10-03T08:00:00Z',
    late: false,
  },
  {
    subAccountId: 'brand-b',
    usageId: 'u2',
    meter: 'images',
    credits: 234_567,
    occurredAt: '2026-10-10T08:00:00Z',
    late: false,
  },
  {
    subAccountId: 'brand-b',
    usageId: 'u3',
    meter: 'api',
    credits: 1_000,
    occurredAt: '2026-10-04T08:00:00Z',
    late: false,
  },
  {
    subAccountId: 'brand-a',
    usageId: 'u4a',
    meter: 'images',
    credits: 1,
    occurredAt: '2026-10-05T08:00:00Z',
    late: false,
  },
  {
    subAccountId: 'brand-a',
    usageId: 'u4b',
    meter: 'images',
    credits: 1,
    occurredAt: '2026-10-06T08:00:00Z',
    late: false,
  },
  {
    subAccountId: 'brand-a',
    usageId: 'u4c',
    meter: 'images',
    credits: 1n,
    occurredAt: '2026-10-07T08:00:00Z',
    late: false,
  },
  {
    subAccountId: 'brand-a',
    usageId: 'u6',
    meter: 'images',
    credits: 500,
    occurredAt: '2026-09-30T23:59:00Z',
    late: true,
  },
  {
    subAccountId: 'brand-a',
    usageId: 'u7',
    meter: 'images',
    credits: 1_000,
    occurredAt: '2026-09-15T12:00:00+02:00',
    late: true,
  },
  {
    subAccountId: 'client-z',
    usageId: 'u8',
    meter: 'api',
    credits: 7,
    occurredAt: '2026-10-31T23:59:59.999Z',
    late: false,
  },
  {
    subAccountId: 'client-z',
    usageId: 'u9',
    meter: 'api',
    credits: 250,
    occurredAt: '2026-09-20T00:00:00Z',
    late: true,
  },
];

const input: BuildInvoicesInput = {
  parent,
  period: '2026-10',
  terms,
  pastTerms,
  usage,
  issuedAt: '2026-11-01T00:05:00Z',
  nextSequence: 7,
};

describe('buildInvoices', () => {
  const invoices = buildInvoices(input);

  it('issues the consolidated parent invoice first, then one per bill-to-sub-account sub-account', () => {
    expect(
      invoices.map((invoice) => [invoice.invoiceId, invoice.number, invoice.sequence, invoice.billTo]),
    ).toEqual([
      ['inv-acme-2026-10-parent', 'acme-2026-000007', 7, { type: 'parent', id: 'acme' }],
      ['inv-acme-2026-10-sub-client-y', 'acme-2026-000008', 8, { type: 'sub-account', id: 'client-y' }],
      ['inv-acme-2026-10-sub-client-z', 'acme-2026-000009', 9, { type: 'sub-account', id: 'client-z' }],
    ]);
  });

  it('builds the consolidated invoice with a section per bill-to-parent sub-account and lines per meter', () => {
    expect(invoices[0]).toEqual({
      invoiceId: 'inv-acme-2026-10-parent',
      number: 'acme-2026-000007',
      sequence: 7,
      parentId: 'acme',
      period: '2026-10',
      currency: 'USD',
      billTo: { type: 'parent', id: 'acme' },
      sections: [
        {
          subAccountId: 'brand-a',
          name: 'Brand A',
          // Three records of 1 credit at 0.004 are 0.4 cent each; priced as one line they are 1.2 → 1 cent.
          lines: [{ meter: 'images', unitPrice: '0.004', credits: '3', amountMinor: '1', amount: '0.01' }],
          lateLines: [
            {
              // September's price: 1,500 × 0.00003 = 0.045 USD = 4.5 cents → 4 (half-even).
              meter: 'images',
              unitPrice: '0.00003',
              credits: '1500',
              amountMinor: '4',
              amount: '0.04',
              originalPeriod: '2026-09',
              usage: [
                { usageId: 'u7', occurredAt: '2026-09-15T10:00:00.000Z', credits: '1000' },
                { usageId: 'u6', occurredAt: '2026-09-30T23:59:00.000Z', credits: '500' },
              ],
            },
          ],
          subtotalMinor: '5',
          subtotal: '0.05',
        },
        {
          subAccountId: 'brand-b',
          name: 'Brand B',
          lines: [
            { meter: 'api', unitPrice: '0.00099', credits: '1000', amountMinor: '99', amount: '0.99' },
            // 1,234,567 × 0.00099 = 1222.22133 → 122222 cents.
            {
              meter: 'images',
              unitPrice: '0.00099',
              credits: '1234567',
              amountMinor: '122222',
              amount: '1222.22',
            },
          ],
          lateLines: [],
          subtotalMinor: '122321',
          subtotal: '1223.21',
        },
        {
          // Client Z is billed to itself since October, but its late September usage is the parent's.
          subAccountId: 'client-z',
          name: 'Client Z',
          lines: [],
          lateLines: [
            {
              meter: 'api',
              unitPrice: '0.00004',
              credits: '250',
              amountMinor: '1',
              amount: '0.01',
              originalPeriod: '2026-09',
              usage: [{ usageId: 'u9', occurredAt: '2026-09-20T00:00:00.000Z', credits: '250' }],
            },
          ],
          subtotalMinor: '1',
          subtotal: '0.01',
        },
        {
          subAccountId: 'env-idle',
          name: 'Idle env',
          lines: [],
          lateLines: [],
          subtotalMinor: '0',
          subtotal: '0.00',
        },
      ],
      subtotalMinor: '122327',
      totalMinor: '122327',
      subtotal: '1223.27',
      total: '1223.27',
      issuedAt: '2026-11-01T00:05:00.000Z',
    });
  });

  it('issues a zero invoice to a bill-to-sub-account sub-account without usage', () => {
    expect(invoices[1].sections).toEqual([
      {
        subAccountId: 'client-y',
        name: 'Client Y',
        lines: [],
        lateLines: [],
        subtotalMinor: '0',
        subtotal: '0.00',
      },
    ]);
    expect(invoices[1].totalMinor).toBe('0');
  });

  it("prices a bill-to-sub-account sub-account's own usage at its own price", () => {
    // 7 × 0.005 = 3.5 cents → 4 (half-even).
    expect(invoices[2].sections).toEqual([
      {
        subAccountId: 'client-z',
        name: 'Client Z',
        lines: [{ meter: 'api', unitPrice: '0.005', credits: '7', amountMinor: '4', amount: '0.04' }],
        lateLines: [],
        subtotalMinor: '4',
        subtotal: '0.04',
      },
    ]);
    expect(invoices[2].total).toBe('0.04');
  });

  it('gives the same invoices, byte for byte, whatever the order of its input', () => {
    const shuffled = buildInvoices({
      ...input,
      terms: [...terms].reverse(),
      pastTerms: [...pastTerms].reverse(),
      usage: [...usage].reverse(),
    });
    expect(JSON.stringify(shuffled)).toBe(JSON.stringify(invoices));
  });

  it('is JSON-ready: a round trip through JSON changes nothing', () => {
    expect(JSON.parse(JSON.stringify(invoices))).toEqual(invoices);
  });

  it('orders sub-accounts by code unit, not by locale', () => {
    const [consolidated] = buildInvoices({
      ...input,
      terms: ['b', 'Z', 'a', 'B'].map((id) => ({
        subAccountId: id,
        name: id,
        billingModel: 'bill-to-parent' as const,
        creditPrice: '1',
      })),
      pastTerms: [],
      usage: [],
    });
    expect(consolidated.sections.map((section) => section.subAccountId)).toEqual(['B', 'Z', 'a', 'b']);
  });

  it('numbers invoices without gaps across periods', () => {
    const october = buildInvoices({ ...input, nextSequence: 1 });
    const november = buildInvoices({
      ...input,
      period: '2026-11',
      pastTerms: [],
      usage: [],
      issuedAt: '2026-12-01T00:00:00Z',
      nextSequence: october.length + 1,
    });
    const december = buildInvoices({
      ...input,
      period: '2026-12',
      pastTerms: [],
      usage: [],
      issuedAt: '2027-01-01T00:00:00Z',
      nextSequence: october.length + november.length + 1,
    });
    const all = [...october, ...november, ...december];
    expect(all.map((invoice) => invoice.sequence)).toEqual(all.map((_, index) => index + 1));
    expect(all.map((invoice) => invoice.number)).toEqual([
      'acme-2026-000001',
      'acme-2026-000002',
      'acme-2026-000003',
      'acme-2026-000004',
      'acme-2026-000005',
      'acme-2026-000006',
      'acme-2026-000007',
      'acme-2026-000008',
      'acme-2026-000009',
    ]);
    expect(new Set(all.map((invoice) => invoice.invoiceId)).size).toBe(all.length);
    expect(invoiceNumber('acme', '2027-01', 1_234_567)).toBe('acme-2027-1234567');
  });

  it('still issues the consolidated invoice when no sub-account is billed to the parent', () => {
    const result = buildInvoices({ ...input, terms: [], pastTerms: [], usage: [] });
    expect(result).toHaveLength(1);
    expect(result[0]).toMatchObject({
      billTo: { type: 'parent', id: 'acme' },
      sections: [],
      totalMinor: '0',
      total: '0.00',
    });
  });

  it('formats amounts in the currency of the parent (JPY, exponent 0)', () => {
    const [consolidated] = buildInvoices({
      ...input,
      parent: { parentId: 'tokyo', currency: 'JPY' },
      terms: [{ subAccountId: 's', name: 'S', billingModel: 'bill-to-parent', creditPrice: '0.5' }],
      pastTerms: [],
      usage: [
        {
          subAccountId: 's',
          usageId: '1',
          meter: 'm',
          credits: 2,
          occurredAt: '2026-10-01T00:00:00Z',
          late: false,
        },
        {
          subAccountId: 's',
          usageId: '2',
          meter: 'm',
          credits: 3,
          occurredAt: '2026-10-02T00:00:00Z',
          late: false,
        },
      ],
    });
    // 5 × 0.5 = 2.5 yen → 2.
    expect(consolidated.sections[0].lines).toEqual([
      { meter: 'm', unitPrice: '0.5', credits: '5', amountMinor: '2', amount: '2' },
    ]);
    expect(consolidated.total).toBe('2');
    expect(consolidated.number).toBe('tokyo-2026-000007');
  });

  it('keeps totals beyond 2^53 exact', () => {
    const records: BillableUsage[] = Array.from({ length: 20 }, (_, index) => ({
      subAccountId: 'big',
      usageId: `u${index}`,
      meter: 'm',
      credits: 1_000_000_000_000,
      occurredAt: '2026-10-15T00:00:00Z',
      late: false,
    }));
    const [consolidated] = buildInvoices({
      ...input,
      terms: [
        { subAccountId: 'big', name: 'Big', billingModel: 'bill-to-parent', creditPrice: '999.999999' },
      ],
      pastTerms: [],
      usage: records,
    });
    // 2×10^13 credits × 999.999999 = 19,999,999,980,000,000 USD.
    expect(consolidated.sections[0].lines[0].credits).toBe('20000000000000');
    expect(consolidated.totalMinor).toBe('1999999998000000000');
    expect(consolidated.total).toBe('19999999980000000.00');
  });

  describe('refuses inconsistent input', () => {
    const onTime = (overrides: Partial<BillableUsage>): BillableUsage => ({
      subAccountId: 'brand-a',
      usageId: 'x',
      meter: 'images',
      credits: 1,
      occurredAt: '2026-10-02T00:00:00Z',
      late: false,
      ...overrides,
    });
    it.each<[string, Partial<BuildInvoicesInput>]>([
      ['usage of a sub-account without terms', { usage: [onTime({ subAccountId: 'ghost' })] }],
      ['on-time usage outside the period', { usage: [onTime({ occurredAt: '2026-09-30T23:59:59Z' })] }],
      ['on-time usage after the period', { usage: [onTime({ occurredAt: '2026-11-01T00:00:00Z' })] }],
      ['late usage from the period itself', { usage: [onTime({ late: true })] }],
      ['late usage from the future', { usage: [onTime({ late: true, occurredAt: '2026-11-02T00:00:00Z' })] }],
      [
        'late usage without the terms of its period',
        { usage: [onTime({ late: true, occurredAt: '2026-08-02T00:00:00Z' })] },
      ],
      ['the same usage twice', { usage: [onTime({}), onTime({ credits: 2 })] }],
      ['more than 10^12 credits in one record', { usage: [onTime({ credits: 1_000_000_000_001 })] }],
      ['negative credits', { usage: [onTime({ credits: -1 })] }],
      ['fractional credits', { usage: [onTime({ credits: 1.5 })] }],
      ['an empty meter', { usage: [onTime({ meter: '' })] }],
      ['a bad occurredAt', { usage: [onTime({ occurredAt: '2026-10-02' })] }],
      ['terms given twice', { terms: [...terms, terms[0]] }],
      ['a bad price', { terms: [{ ...terms[0], creditPrice: '1e-3' }] }],
      ['a bad billing model', { terms: [{ ...terms[0], billingModel: 'bill-to-nobody' as never }] }],
      ['past terms that are not in the past', { pastTerms: [{ ...pastTerms[0], period: '2026-10' }] }],
      ['past terms given twice', { pastTerms: [pastTerms[0], pastTerms[0]] }],
      ['an unknown currency', { parent: { parentId: 'acme', currency: 'XXX' } }],
      ['a bad period', { period: '2026-13' }],
      ['a bad issuedAt', { issuedAt: 'now' }],
      ['a zero sequence', { nextSequence: 0 }],
      ['a fractional sequence', { nextSequence: 1.5 }],
    ])('%s', (_, overrides) => {
      expect(() => buildInvoices({ ...input, ...overrides })).toThrow(BillingValidationError);
    });
  });
});

/** Random consistent input: sub-accounts with random models and prices, usage on time and late. */
const randomInput = fc
  .record({
    currency: fc.constantFrom('USD', 'JPY', 'BHD', 'EUR', 'CLF'),
    subAccounts: fc.uniqueArray(
      fc.record({
        subAccountId: fc.string({
          unit: fc.constantFrom('a', 'b', 'C', '-', '1'),
          minLength: 1,
          maxLength: 4,
        }),
        billingModel: fc.constantFrom('bill-to-parent' as const, 'bill-to-sub-account' as const),
        pastModel: fc.constantFrom('bill-to-parent' as const, 'bill-to-sub-account' as const),
        price: fc.constantFrom('0.00099', '0.005', '0.5', '1', '0.000000000001', '12.345678'),
        pastPrice: fc.constantFrom('0.00099', '0.004', '2'),
      }),
      { minLength: 0, maxLength: 6, selector: (account) => account.subAccountId },
    ),
    records: fc.array(
      fc.record({
        account: fc.nat(),
        meter: fc.constantFrom('api', 'images', 'video'),
        credits: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 1_000_000_000_000 })),
        day: fc.integer({ min: 1, max: 30 }),
        late: fc.boolean(),
      }),
      { maxLength: 40 },
    ),
    nextSequence: fc.integer({ min: 1, max: 1_000_000 }),
  })
  .map(({ currency, subAccounts, records, nextSequence }): BuildInvoicesInput => ({
    parent: { parentId: 'p', currency },
    period: '2026-11',
    terms: subAccounts.map((account) => ({
      subAccountId: account.subAccountId,
      name: `name ${account.subAccountId}`,
      billingModel: account.billingModel,
      creditPrice: account.price,
    })),
    pastTerms: subAccounts.map((account) => ({
      period: '2026-10',
      subAccountId: account.subAccountId,
      name: `old ${account.subAccountId}`,
      billingModel: account.pastModel,
      creditPrice: account.pastPrice,
    })),
    usage:
      subAccounts.length === 0
        ? []
        : records.map((record, index) => ({
            subAccountId: subAccounts[record.account % subAccounts.length].subAccountId,
            usageId: `u${index}`,
            meter: record.meter,
            credits: record.credits,
            occurredAt: `2026-${record.late ? '10' : '11'}-${String(record.day).padStart(2, '0')}T12:00:00Z`,
            late: record.late,
          })),
    issuedAt: '2026-12-01T00:00:00Z',
    nextSequence,
  }));

function allLines(invoice: Invoice) {
  return invoice.sections.flatMap((section) => [...section.lines, ...section.lateLines]);
}

describe('buildInvoices properties', () => {
  it('totals are the sum of line amounts, and each line is credits × price rounded once', () => {
    fc.assert(
      fc.property(randomInput, (generated) => {
        for (const invoice of buildInvoices(generated)) {
          let total = 0n;
          for (const section of invoice.sections) {
            const lines = [...section.lines, ...section.lateLines];
            const subtotal = lines.reduce((sum, line) => sum + BigInt(line.amountMinor), 0n);
            expect(section.subtotalMinor).toBe(subtotal.toString());
            total += subtotal;
          }
          expect(invoice.subtotalMinor).toBe(total.toString());
          expect(invoice.totalMinor).toBe(total.toString());
          for (const line of allLines(invoice)) {
            expect(line.amountMinor).toBe(
              lineAmountMinor(BigInt(line.credits), line.unitPrice, invoice.currency).toString(),
            );
          }
        }
      }),
    );
  });

  it('bills every credit exactly once, numbers without gaps, and ignores input order', () => {
    fc.assert(
      fc.property(randomInput, (generated) => {
        const invoices = buildInvoices(generated);
        const billed = invoices.flatMap(allLines).reduce((sum, line) => sum + BigInt(line.credits), 0n);
        const used = generated.usage.reduce((sum, record) => sum + BigInt(record.credits), 0n);
        expect(billed).toBe(used);
        expect(invoices.map((invoice) => invoice.sequence)).toEqual(
          invoices.map((_, index) => generated.nextSequence + index),
        );
        expect(invoices.filter((invoice) => invoice.billTo.type === 'parent')).toHaveLength(1);
        const reversed = buildInvoices({
          ...generated,
          terms: [...generated.terms].reverse(),
          usage: [...generated.usage].reverse(),
        });
        expect(JSON.stringify(reversed)).toBe(JSON.stringify(invoices));
      }),
    );
  });
});
