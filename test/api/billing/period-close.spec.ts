import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  ledgerRevision,
  readLedger,
  type IssuedKey,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';
import { createPricedSub, openPricedParent, summary, use } from './billing-helpers';

/*
 * One story through three months of service time, restarting over the same data folder to move
 * the clock: October's usage in USD and JPY, October closed (twice), replayed, hit by late usage,
 * November closed. Every amount below is computed by hand; half-even ties are marked.
 */
jest.setTimeout(60_000);

const OCTOBER = '2026-10-05T10:00:00Z';
const NOVEMBER = '2026-11-02T09:00:00Z';
const DECEMBER = '2026-12-01T01:00:00Z';

describe('billing periods, invoices and replay over real HTTP', () => {
  let dataDir: string;
  let service: TestService;
  let usd: OpenedParent;
  let jpy: OpenedParent;
  let cKey: IssuedKey;
  let aKey: IssuedKey;
  const usdId = `usd-${process.pid}`;
  const jpyId = `jpy-${process.pid}`;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-billing-'));
    service = await startTestService({ now: OCTOBER, dataDir });
    usd = await openPricedParent(service, usdId, 'USD', '0.0125');
    // a and b pay through the parent, a at the parent's price, b at its own; c pays itself.
    await createPricedSub(service, usd, 'a', 'bill-to-parent');
    await createPricedSub(service, usd, 'b', 'bill-to-parent', '0.001');
    await createPricedSub(service, usd, 'c', 'bill-to-sub-account', '0.005');
    await createPricedSub(service, usd, 'd', 'bill-to-parent');
    await use(service, usd, 'a', 10, 'api'); // 10 × 0.0125 = 12.5 cents → 12 (tie, to even)
    await use(service, usd, 'a', 30, 'images'); // 30 × 0.0125 = 37.5 cents → 38 (tie, to even)
    await use(service, usd, 'b', 1_000, 'api');
    await use(service, usd, 'b', 500, 'api'); // 1,500 × 0.001 = 1.50 USD
    await use(service, usd, 'c', 5, 'api'); // 5 × 0.005 = 2.5 cents → 2 (tie, to even)
    jpy = await openPricedParent(service, jpyId, 'JPY', '0.5');
    await createPricedSub(service, jpy, 'j', 'bill-to-sub-account');
    await createPricedSub(service, jpy, 'k', 'bill-to-parent');
    await use(service, jpy, 'j', 5); // 2.5 yen → 2 (tie, to even)
    await use(service, jpy, 'k', 7); // 3.5 yen → 4 (tie, to even)
    cKey = await issueSubAccountKey(service, usd, 'c');
    aKey = await issueSubAccountKey(service, usd, 'a');
  });

  afterAll(async () => {
    await service?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function restartAt(now: string): Promise<void> {
    await service.close();
    service = await startTestService({ now, dataDir, operatorToken: service.operatorToken });
  }

  it('changes of price and model wait for the next period (rule 7)', async () => {
    expectStatus(
      await service.api.patch(
        `/v1/parents/${usdId}/sub-accounts/a`,
        { creditPrice: '0.02' },
        service.operatorToken,
      ),
      200,
    );
    expectStatus(
      await service.api.patch(
        `/v1/parents/${usdId}/sub-accounts/d`,
        { billingModel: 'bill-to-sub-account' },
        usd.key,
      ),
      200,
    );
    const d = expectStatus(await service.api.get(`/v1/parents/${usdId}/sub-accounts/d`, usd.key), 200).body;
    expect(d).toMatchObject({ billingModel: 'bill-to-parent', pendingBillingModel: 'bill-to-sub-account' });
  });

  it('drafts the open period live, without consuming a number', async () => {
    const listing = expectStatus(await service.api.get(`/v1/parents/${usdId}/invoices`, usd.key), 200).body;
    expect(listing.invoices).toEqual([]);
    expect(listing.draft.period).toBe('2026-10');
    expect(
      listing.draft.invoices.map((invoice: any) => [invoice.status, invoice.number, invoice.totalMinor]),
    ).toEqual([
      ['draft', null, '200'],
      ['draft', null, '2'],
    ]);
  });

  it('shows a bill-to-sub-account sub-account its own invoices and a bill-to-parent one nothing', async () => {
    const own = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/sub-accounts/c/invoices`, cKey.secret),
      200,
    );
    expect(own.body.draft).toMatchObject({ invoiceId: `inv-${usdId}-2026-10-sub-c`, totalMinor: '2' });
    expectProblem(
      await service.api.get(`/v1/parents/${usdId}/sub-accounts/a/invoices`, aKey.secret),
      403,
      'forbidden',
    );
    expectProblem(await service.api.get(`/v1/parents/${usdId}/sub-accounts/c/invoices`, aKey.secret), 404);
    expectProblem(await service.api.get(`/v1/parents/${usdId}/invoices`, aKey.secret), 403);
  });

  it('refuses to close a period that has not ended', async () => {
    const before = await ledgerRevision(service, usdId);
    const refused = await service.api.post(
      `/v1/parents/${usdId}/billing-periods/2026-10/close`,
      {},
      service.operatorToken,
    );
    expectProblem(refused, 409, 'period_not_ended');
    expect(refused.body.detail).toMatch(/not ended/);
    expect(await ledgerRevision(service, usdId)).toBe(before);
    expectProblem(
      await service.api.post(`/v1/parents/${usdId}/billing-periods/2026-10/close`, {}, usd.key),
      403,
    );
  });

  it('closes October: one consolidated invoice to the parent and one per bill-to-sub-account sub-account', async () => {
    await restartAt(NOVEMBER);
    const closed = expectStatus(
      await service.api.post(`/v1/parents/${usdId}/billing-periods/2026-10/close`, {}, service.operatorToken),
      201,
    ).body;
    expect(closed.invoices.map(summary)).toEqual([
      {
        invoiceId: `inv-${usdId}-2026-10-parent`,
        number: `${usdId}-2026-000001`,
        totalMinor: '200',
        total: '2.00',
        sections: [
          {
            subAccountId: 'a',
            lines: [
              ['api', '0.0125', '10', '12'],
              ['images', '0.0125', '30', '38'],
            ],
            lateLines: [],
            subtotalMinor: '50',
          },
          {
            subAccountId: 'b',
            lines: [['api', '0.001', '1500', '150']],
            lateLines: [],
            subtotalMinor: '150',
          },
          { subAccountId: 'd', lines: [], lateLines: [], subtotalMinor: '0' },
        ],
      },
      {
        invoiceId: `inv-${usdId}-2026-10-sub-c`,
        number: `${usdId}-2026-000002`,
        totalMinor: '2',
        total: '0.02',
        sections: [
          { subAccountId: 'c', lines: [['api', '0.005', '5', '2']], lateLines: [], subtotalMinor: '2' },
        ],
      },
    ]);
    expect(closed.invoices[0]).toMatchObject({
      currency: 'USD',
      status: 'issued',
      issuedAt: closed.closedAt,
    });

    const yen = expectStatus(
      await service.api.post(`/v1/parents/${jpyId}/billing-periods/2026-10/close`, {}, service.operatorToken),
      201,
    ).body;
    expect(
      yen.invoices.map((invoice: any) => [invoice.invoiceId, invoice.totalMinor, invoice.total]),
    ).toEqual([
      [`inv-${jpyId}-2026-10-parent`, '4', '4'],
      [`inv-${jpyId}-2026-10-sub-j`, '2', '2'],
    ]);
  });

  it('closing again changes nothing and answers with the same invoices', async () => {
    const before = await readLedger(service, usdId);
    const again = expectStatus(
      await service.api.post(`/v1/parents/${usdId}/billing-periods/2026-10/close`, {}, service.operatorToken),
      200,
    ).body;
    expect(await readLedger(service, usdId)).toHaveLength(before.length);
    const issuedEvents = before.filter((event) => event.type === 'InvoiceIssued').map((event) => event.data);
    expect(again.invoices.map(({ status: _status, ...invoice }: any) => invoice)).toEqual(issuedEvents);
    // The close and its invoices are one append: adjacent revisions.
    const closedAt = before.findIndex((event) => event.type === 'BillingPeriodClosed');
    expect(before.slice(closedAt + 1, closedAt + 3).map((event) => event.type)).toEqual([
      'InvoiceIssued',
      'InvoiceIssued',
    ]);
  });

  it('lists periods with their status', async () => {
    const { periods } = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/billing-periods`, usd.key),
      200,
    ).body;
    expect(periods.map((period: any) => [period.period, period.status, period.invoices])).toEqual([
      ['2026-10', 'closed', 2],
      ['2026-11', 'open', 0],
    ]);
  });

  it('replays the closed period from the log and finds it matching', async () => {
    const replay = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/billing-periods/2026-10/replay`, service.operatorToken),
      200,
    ).body;
    expect(replay).toMatchObject({ matches: true, status: 'closed', differences: [] });
    expect(replay.recomputed).toEqual(replay.issued);
    expect(replay.issued).toHaveLength(2);
    expectProblem(await service.api.get(`/v1/parents/${usdId}/billing-periods/2026-10/replay`, usd.key), 403);
  });

  it('bills late usage in November at October terms and leaves October as issued', async () => {
    const octoberBefore = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/invoices?period=2026-10`, usd.key),
      200,
    ).body;
    await use(service, usd, 'a', 3, 'api', '2026-10-20T08:00:00Z'); // late: 3 × 0.0125 = 3.75 cents → 4
    await use(service, usd, 'a', 10, 'api'); // November, new price: 10 × 0.02 = 20 cents
    const octoberAfter = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/invoices?period=2026-10`, usd.key),
      200,
    ).body;
    expect(octoberAfter).toEqual(octoberBefore);
    expect(octoberAfter.draft).toBeNull();
    const replay = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/billing-periods/2026-10/replay`, service.operatorToken),
      200,
    ).body;
    expect(replay.matches).toBe(true);
    const openReplay = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/billing-periods/2026-11/replay`, service.operatorToken),
      200,
    ).body;
    expect(openReplay).toMatchObject({ status: 'open', matches: true });
  });

  it('lets the billed sub-account read its issued invoice and nobody else of its kind', async () => {
    const invoiceId = `inv-${usdId}-2026-10-sub-c`;
    expect(
      expectStatus(await service.api.get(`/v1/parents/${usdId}/invoices/${invoiceId}`, cKey.secret), 200)
        .body,
    ).toMatchObject({
      invoiceId,
      totalMinor: '2',
    });
    expectProblem(await service.api.get(`/v1/parents/${usdId}/invoices/${invoiceId}`, aKey.secret), 404);
    expectProblem(
      await service.api.get(`/v1/parents/${usdId}/invoices/inv-${usdId}-2026-10-parent`, cKey.secret),
      404,
    );
    expectProblem(await service.api.get(`/v1/parents/${usdId}/invoices/${invoiceId}`, jpy.key), 404);
    const list = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/sub-accounts/c/invoices`, cKey.secret),
      200,
    ).body;
    expect(list.invoices.map((invoice: any) => invoice.invoiceId)).toEqual([invoiceId]);
  });

  it('closes November with the late line, the new terms and gap-free numbers', async () => {
    await restartAt(DECEMBER);
    const closed = expectStatus(
      await service.api.post(`/v1/parents/${usdId}/billing-periods/2026-11/close`, {}, service.operatorToken),
      201,
    ).body;
    expect(closed.invoices.map(summary)).toEqual([
      {
        invoiceId: `inv-${usdId}-2026-11-parent`,
        number: `${usdId}-2026-000003`,
        totalMinor: '24',
        total: '0.24',
        sections: [
          {
            subAccountId: 'a',
            lines: [['api', '0.02', '10', '20']],
            lateLines: [['2026-10', 'api', '0.0125', '3', '4', ['2026-10-20T08:00:00.000Z']]],
            subtotalMinor: '24',
          },
          { subAccountId: 'b', lines: [], lateLines: [], subtotalMinor: '0' },
        ],
      },
      {
        invoiceId: `inv-${usdId}-2026-11-sub-c`,
        number: `${usdId}-2026-000004`,
        totalMinor: '0',
        total: '0.00',
        sections: [{ subAccountId: 'c', lines: [], lateLines: [], subtotalMinor: '0' }],
      },
      {
        invoiceId: `inv-${usdId}-2026-11-sub-d`,
        number: `${usdId}-2026-000005`,
        totalMinor: '0',
        total: '0.00',
        sections: [{ subAccountId: 'd', lines: [], lateLines: [], subtotalMinor: '0' }],
      },
    ]);
    for (const period of ['2026-10', '2026-11']) {
      const replay = expectStatus(
        await service.api.get(`/v1/parents/${usdId}/billing-periods/${period}/replay`, service.operatorToken),
        200,
      ).body;
      expect([period, replay.matches]).toEqual([period, true]);
    }
    const all = expectStatus(
      await service.api.get(`/v1/parents/${usdId}/invoices`, service.operatorToken),
      200,
    ).body;
    expect(all.invoices.map((invoice: any) => invoice.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(all.draft.period).toBe('2026-12');
  });

  it('replays from the command line too, against the store left on disk', async () => {
    await service.close();
    const root = path.resolve(__dirname, '..', '..', '..');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        'src/billing/replay.cli.ts',
        '--parent',
        usdId,
        '--period',
        '2026-11',
      ],
      { cwd: root, env: { ...process.env, SUBLEDGER_DATA_DIR: dataDir, EVENTSTORE_CONNECTION_STRING: '' } },
    );
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ period: '2026-11', status: 'closed', matches: true, differences: [] });
    expect(report.issued.map((invoice: any) => invoice.sequence)).toEqual([3, 4, 5]);
    service = await startTestService({ now: DECEMBER, dataDir, operatorToken: service.operatorToken });
  });
});
