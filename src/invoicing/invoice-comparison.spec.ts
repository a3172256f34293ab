import { buildInvoices, BuildInvoicesInput, Invoice } from './invoice';
import { compareInvoices } from './invoice-comparison';
import { BillingValidationError } from './billing-validation.error';

const input: BuildInvoicesInput = {
  parent: { parentId: 'acme', currency: 'USD' },
  period: '2026-10',
  terms: [
    { subAccountId: 'a', name: 'A', billingModel: 'bill-to-parent', creditPrice: '0.005' },
    { subAccountId: 'b', name: 'B', billingModel: 'bill-to-parent', creditPrice: '0.01' },
    { subAccountId: 'c', name: 'C', billingModel: 'bill-to-sub-account', creditPrice: '0.02' },
  ],
  usage: [
    {
      subAccountId: 'a',
      usageId: '1',
      meter: 'api',
      credits: 5,
      occurredAt: '2026-10-01T00:00:00Z',
      late: false,
    },
    {
      subAccountId: 'b',
      usageId: '2',
      meter: 'api',
      credits: 10,
      occurredAt: '2026-10-02T00:00:00Z',
      late: false,
    },
    {
      subAccountId: 'c',
      usageId: '3',
      meter: 'api',
      credits: 10,
      occurredAt: '2026-10-03T00:00:00Z',
      late: false,
    },
  ],
  issuedAt: '2026-11-01T00:00:00Z',
  nextSequence: 1,
};

/** What an issued invoice looks like after a trip through an InvoiceIssued event. */
function storedCopy(invoices: Invoice[]): Invoice[] {
  return JSON.parse(JSON.stringify(invoices)) as Invoice[];
}

describe('compareInvoices', () => {
  const recomputed = buildInvoices(input);

  it('matches invoices read back from storage against a recomputation', () => {
    expect(compareInvoices(storedCopy(recomputed), buildInvoices(input))).toEqual({
      matches: true,
      differences: [],
    });
  });

  it('reports a changed amount at its path with both values', () => {
    const issued = storedCopy(recomputed);
    (issued[0].sections[1].lines[0] as { amountMinor: string }).amountMinor = '11';
    expect(compareInvoices(issued, recomputed)).toEqual({
      matches: false,
      differences: [
        {
          invoiceId: 'inv-acme-2026-10-parent',
          path: 'sections[1].lines[0].amountMinor',
          issued: '11',
          recomputed: '10',
        },
      ],
    });
  });

  it('reports a recomputation under different terms line by line, in a stable order', () => {
    const repriced = buildInvoices({
      ...input,
      terms: input.terms.map((terms) =>
        terms.subAccountId === 'a' ? { ...terms, creditPrice: '0.007' } : terms,
      ),
    });
    const result = compareInvoices(storedCopy(recomputed), repriced);
    expect(result.matches).toBe(false);
    // 5 × 0.005 = 2.5 cents → 2; 5 × 0.007 = 3.5 cents → 4.
    expect(result.differences.map(({ path, issued, recomputed: again }) => [path, issued, again])).toEqual([
      ['sections[0].lines[0].amount', '0.02', '0.04'],
      ['sections[0].lines[0].amountMinor', '2', '4'],
      ['sections[0].lines[0].unitPrice', '0.005', '0.007'],
      ['sections[0].subtotal', '0.02', '0.04'],
      ['sections[0].subtotalMinor', '2', '4'],
      ['subtotal', '0.12', '0.14'],
      ['subtotalMinor', '12', '14'],
      ['total', '0.12', '0.14'],
      ['totalMinor', '12', '14'],
    ]);
    expect(compareInvoices(storedCopy(recomputed), repriced)).toEqual(result);
  });

  it('reports an invoice present on one side only as a whole', () => {
    const [parentInvoice, subAccountInvoice] = recomputed;
    expect(compareInvoices([parentInvoice], recomputed)).toEqual({
      matches: false,
      differences: [
        {
          invoiceId: subAccountInvoice.invoiceId,
          path: '',
          issued: undefined,
          recomputed: subAccountInvoice,
        },
      ],
    });
    expect(compareInvoices(recomputed, [subAccountInvoice]).differences).toEqual([
      { invoiceId: parentInvoice.invoiceId, path: '', issued: parentInvoice, recomputed: undefined },
    ]);
  });

  it('reports an extra line and an extra field', () => {
    const issued = storedCopy(recomputed);
    const extraLine = { meter: 'video', unitPrice: '0.01', credits: '1', amountMinor: '1', amount: '0.01' };
    (issued[1].sections[0].lines as unknown[]).push(extraLine);
    (issued[1] as unknown as Record<string, unknown>).note = 'hand-edited';
    expect(compareInvoices(issued, recomputed).differences).toEqual([
      { invoiceId: issued[1].invoiceId, path: 'note', issued: 'hand-edited', recomputed: undefined },
      {
        invoiceId: issued[1].invoiceId,
        path: 'sections[0].lines[1]',
        issued: extraLine,
        recomputed: undefined,
      },
    ]);
  });

  it('treats a bigint and its integer string as equal, and quotes odd keys in paths', () => {
    const left = [{ invoiceId: 'x', amountMinor: 12n, 'odd key': 1 }];
    const right = [{ invoiceId: 'x', amountMinor: '12', 'odd key': 2 }];
    expect(compareInvoices(left, right).differences).toEqual([
      { invoiceId: 'x', path: '["odd key"]', issued: 1, recomputed: 2 },
    ]);
  });

  it('refuses a side that lists the same invoice twice', () => {
    expect(() => compareInvoices([recomputed[0], recomputed[0]], recomputed)).toThrow(BillingValidationError);
  });
});
