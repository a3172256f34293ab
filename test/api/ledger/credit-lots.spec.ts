import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  expectProblem,
  expectStatus,
  ledgerRevision,
  openParent,
  readLedger,
  uniqueId,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { pollUntil } from '../../support/poll';
import { startTestService, type ApiResponse, type TestService } from '../../support/service';

/*
 * SPEC §10 through real HTTP: lots with kind, expiry and priority, the burn order, usage reversals
 * (with their own idempotency keys), recurring allocations, expiry run by the service itself after a
 * restart with a later SUBLEDGER_NOW, and a period closed between a usage and its reversal (the next
 * invoice credits it; both periods replay matching). The service restarts over the same data, so the
 * clock can move: 15 October, then 22 October (past the granted lot's expiry plus 48 h of grace), then
 * 2 November.
 */

describe('credit lots, expiry, recurring allocations and reversals (SPEC §10)', () => {
  let dataDir: string;
  let service: TestService;
  let parent: OpenedParent;
  const sub = uniqueId('s');
  const monthly = uniqueId('m');
  const greedy = uniqueId('g');
  let usageId = '';

  const parentPath = () => `/v1/parents/${parent.id}`;
  const subPath = (id: string) => `${parentPath()}/sub-accounts/${id}`;
  const operator = () => service.operatorToken;

  async function recordsNothing(call: () => Promise<ApiResponse>): Promise<ApiResponse> {
    const before = await ledgerRevision(service, parent.id);
    const response = await call();
    expect(await ledgerRevision(service, parent.id)).toBe(before);
    return response;
  }

  async function restartAt(now: string): Promise<void> {
    await service.close();
    service = await startTestService({ dataDir, now });
  }

  async function lots(): Promise<any[]> {
    return expectStatus(await service.api.get(`${parentPath()}/credits`, parent.key), 200).body.items;
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-lots-'));
    service = await startTestService({ dataDir, now: '2026-10-15T12:00:00Z' });
    parent = await openParent(service);
  });

  afterAll(async () => {
    await service?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses bad lot input with problem+json and records nothing', async () => {
    for (const body of [
      { credits: 10, priority: 101 },
      { credits: 10, priority: -1 },
      { credits: 10, kind: 'free' },
      { credits: 10, expiresAt: 'tomorrow' },
      { credits: 10, expiresAt: '2026-10-01T00:00:00Z' },
      { credits: 10, lotId: 'mine' },
    ]) {
      expectProblem(
        await recordsNothing(() => service.api.post(`${parentPath()}/credits`, body, operator())),
        400,
        'validation_failed',
      );
    }
  });

  it('buys lots and lists them in burn order: priority, then expiry (none last), then purchase, then id', async () => {
    const paid = expectStatus(
      await service.api.post(`${parentPath()}/credits`, { credits: 1_000, reference: 'PO-1' }, operator()),
      200,
    );
    expect(paid.body).toMatchObject({ lotId: 'lot-1', pool: { purchased: 1_000, available: 1_000 } });
    const granted = expectStatus(
      await service.api.post(
        `${parentPath()}/credits`,
        { credits: 500, kind: 'granted', expiresAt: '2026-10-20T00:00:00Z', priority: 10 },
        operator(),
      ),
      200,
    );
    expect(granted.body.lotId).toBe('lot-2');
    expect(
      (await lots()).map((lot) => [lot.lotId, lot.kind, lot.priority, lot.expiresAt, lot.remaining]),
    ).toEqual([
      ['lot-2', 'granted', 10, '2026-10-20T00:00:00.000Z', 500],
      ['lot-1', 'paid', 50, null, 1_000],
    ]);
    const [event] = (await readLedger(service, parent.id))
      .filter((e) => e.type === 'CreditsPurchased')
      .slice(-1);
    expect(event.metadata.schemaVersion).toBe(2);
  });

  it('allocates from the lots in burn order and uses a quota the same way; a return gives back what burns last', async () => {
    expectStatus(
      await service.api.post(
        `${parentPath()}/sub-accounts`,
        { id: sub, name: 'Brand', billingModel: 'bill-to-parent', quota: 600 },
        parent.key,
      ),
      201,
    );
    const view = expectStatus(await service.api.get(subPath(sub), parent.key), 200).body;
    expect(view.expiring).toEqual([{ expiresAt: '2026-10-20T00:00:00.000Z', credits: 500 }]);
    const used = expectStatus(
      await service.api.post(
        `${subPath(sub)}/usage`,
        { idempotencyKey: 'u-1', credits: 200, meter: 'api' },
        parent.key,
      ),
      201,
    );
    usageId = used.body.usageId;
    expectStatus(await service.api.post(`${subPath(sub)}/returns`, { credits: 100 }, parent.key), 200);
    const events = await readLedger(service, parent.id);
    const portionsOf = (type: string) => events.filter((e) => e.type === type).map((e) => e.data.portions);
    expect(portionsOf('QuotaAllocated')).toEqual([
      [
        { lotId: 'lot-2', credits: 500 },
        { lotId: 'lot-1', credits: 100 },
      ],
    ]);
    expect(portionsOf('UsageRecorded')).toEqual([[{ lotId: 'lot-2', credits: 200 }]]);
    expect(portionsOf('CreditsReturned')).toEqual([[{ lotId: 'lot-1', credits: 100 }]]);
    expect(expectStatus(await service.api.get(subPath(sub), parent.key), 200).body).toMatchObject({
      quota: 500,
      used: 200,
      remaining: 300,
      expiring: [{ expiresAt: '2026-10-20T00:00:00.000Z', credits: 300 }],
    });
  });

  it('reverses usage in part with its own idempotency key; the open period draft and analytics lose the credits', async () => {
    const reversals = `${subPath(sub)}/usage/${usageId}/reversals`;
    const first = expectStatus(
      await service.api.post(
        reversals,
        { idempotencyKey: 'r-1', reason: 'double count', credits: 50 },
        parent.key,
      ),
      201,
    );
    expect(first.body).toMatchObject({ usageId, credits: 50, remaining: 350 });
    const repeat = expectStatus(
      await recordsNothing(() =>
        service.api.post(
          reversals,
          { idempotencyKey: 'r-1', reason: 'double count', credits: 50 },
          parent.key,
        ),
      ),
      200,
    );
    expect(repeat.body.reversalId).toBe(first.body.reversalId);
    expectProblem(
      await recordsNothing(() =>
        service.api.post(
          reversals,
          { idempotencyKey: 'r-1', reason: 'double count', credits: 40 },
          parent.key,
        ),
      ),
      409,
      'idempotency_conflict',
    );
    expectProblem(
      await recordsNothing(() =>
        service.api.post(reversals, { idempotencyKey: 'r-2', reason: 'too much', credits: 151 }, parent.key),
      ),
      409,
      'reversal_exceeds_usage',
    );
    expectProblem(
      await recordsNothing(() =>
        service.api.post(
          `${subPath(sub)}/usage/u_nope/reversals`,
          { idempotencyKey: 'r-3', reason: 'unknown' },
          parent.key,
        ),
      ),
      404,
      'not_found',
    );
    const reversed = (await readLedger(service, parent.id)).find((e) => e.type === 'UsageReversed');
    expect(reversed?.metadata.$causationId).toBe(usageId);
    expect(reversed?.data).toMatchObject({ originalPeriod: '2026-10', creditLine: null, credits: 50 });

    const invoices = expectStatus(
      await service.api.get(`${parentPath()}/invoices?period=2026-10`, parent.key),
      200,
    );
    const section = invoices.body.draft.invoices[0].sections.find((s: any) => s.subAccountId === sub);
    expect(section.lines).toEqual([expect.objectContaining({ meter: 'api', credits: '150' })]);
    const analytics = await pollUntil(
      () => service.api.get(`${parentPath()}/usage?groupBy=subAccount`, parent.key),
      (response) => response.status === 200 && response.body.total.credits === 150,
    );
    expect(analytics.body.groups).toEqual([expect.objectContaining({ credits: 150 })]);
  });

  it('allocates a recurring quota at once when set, and refuses one the pool cannot cover', async () => {
    for (const id of [monthly, greedy]) {
      expectStatus(
        await service.api.post(
          `${parentPath()}/sub-accounts`,
          { id, name: id, billingModel: 'bill-to-parent' },
          parent.key,
        ),
        201,
      );
    }
    const set = expectStatus(
      await service.api.put(`${subPath(monthly)}/recurring-allocation`, { credits: 100 }, parent.key),
      200,
    );
    expect(set.body).toMatchObject({ quota: 100, recurringAllocation: 100 });
    expectProblem(
      await recordsNothing(() =>
        service.api.put(`${subPath(greedy)}/recurring-allocation`, { credits: 10_000 }, parent.key),
      ),
      409,
      'insufficient_pool',
    );
    expectProblem(
      await recordsNothing(() =>
        service.api.put(`${subPath(greedy)}/recurring-allocation`, { credits: 0 }, parent.key),
      ),
      400,
    );
  });

  it('expires what is left of a lot after its grace period, by itself, after a restart with a later clock', async () => {
    // The granted lot expired on 20 October; 48 h of grace end on the 22nd at midnight.
    await restartAt('2026-10-22T01:00:00Z');
    const expired = await pollUntil(lots, (items) =>
      items.some((lot) => lot.lotId === 'lot-2' && lot.expired > 0),
    );
    // Of the 500 granted: 150 used (200 − 50 reversed), the rest lapsed from the quota (350 − 0 in the pool).
    expect(expired.find((lot) => lot.lotId === 'lot-2')).toMatchObject({
      used: 150,
      expired: 350,
      remaining: 0,
    });
    expect(expectStatus(await service.api.get(subPath(sub), parent.key), 200).body).toMatchObject({
      quota: 150,
      used: 150,
      remaining: 0,
      expiring: [],
    });
    const events = await readLedger(service, parent.id);
    const lapse = events.filter((e) => e.type === 'CreditsExpired');
    expect(lapse).toHaveLength(1);
    expect(lapse[0].data).toMatchObject({
      lotId: 'lot-2',
      fromPool: 0,
      fromSubAccounts: [
        { subAccountId: sub, credits: 350, balancesAfter: { quota: 150, used: 150, remaining: 0 } },
      ],
    });
    expect(lapse[0].metadata.actor).toEqual({ type: 'service', id: 'scheduler' });
    const history = await pollUntil(
      () => service.api.get(`${subPath(sub)}/history`, parent.key),
      (response) =>
        response.status === 200 && response.body.entries.some((e: any) => e.type === 'CreditsExpired'),
    );
    expect(history.body.entries.map((e: any) => e.type)).toContain('UsageReversed');
    const expiredEntry = history.body.entries.find((e: any) => e.type === 'CreditsExpired');
    expect(expiredEntry).toMatchObject({
      credits: 350,
      balancesAfter: { quota: 150, used: 150, remaining: 0 },
    });
    const feed = expectStatus(
      await service.api.get(`${parentPath()}/events?types=CreditsExpired&subAccountId=${sub}`, parent.key),
      200,
    );
    expect(feed.body.events.map((e: any) => e.data.lotId)).toEqual(['lot-2']);
    const balance = expectStatus(
      await service.api.get(`${subPath(sub)}/balance?asOf=2026-10-22T00:30:00Z`, parent.key),
      200,
    );
    expect(balance.body).toMatchObject({ quota: 500, used: 150, remaining: 350 });
  });

  it('credits a reversal of a closed period on the next invoice, keeps the issued one, and replays both matching', async () => {
    await restartAt('2026-11-02T09:00:00Z');
    const closed = expectStatus(
      await service.api.post(`${parentPath()}/billing-periods/2026-10/close`, {}, operator()),
      200,
      201,
    );
    const issuedBefore = JSON.stringify(closed.body);
    const reversal = expectStatus(
      await service.api.post(
        `${subPath(sub)}/usage/${usageId}/reversals`,
        { idempotencyKey: 'r-late', reason: 'metered twice' },
        operator(),
      ),
      201,
    );
    expect(reversal.body.credits).toBe(150);
    const november = expectStatus(
      await service.api.get(`${parentPath()}/invoices?period=2026-11`, parent.key),
      200,
    );
    const section = november.body.draft.invoices[0].sections.find((s: any) => s.subAccountId === sub);
    expect(section.creditLines).toEqual([
      expect.objectContaining({
        usageId,
        credits: '150',
        unitPrice: '0.001',
        amountMinor: '-15',
        originalPeriod: '2026-10',
        originalInvoiceId: `inv-${parent.id}-2026-10-parent`,
      }),
    ]);
    const csv = await service.api.request('GET', `${parentPath()}/invoices?period=2026-11`, {
      token: parent.key,
      headers: { accept: 'text/csv' },
    });
    expect(String(csv.body)).toContain(`,credit,api,2026-10,0.001,150,-0.15,`);
    const october = expectStatus(
      await service.api.get(`${parentPath()}/invoices?period=2026-10`, parent.key),
      200,
    );
    expect(JSON.stringify(october.body.issued ?? october.body.items ?? october.body)).toContain(
      '"credits":"150"',
    );
    expect(JSON.stringify(closed.body)).toBe(issuedBefore);
    for (const period of ['2026-10', '2026-11']) {
      const replay = expectStatus(
        await service.api.get(`${parentPath()}/billing-periods/${period}/replay`, operator()),
        200,
      );
      expect({ period, matches: replay.body.matches, differences: replay.body.differences }).toEqual({
        period,
        matches: true,
        differences: [],
      });
    }
  });

  it('resets the recurring allocation at the period start: the unused part goes back, then the new one', async () => {
    const events = await pollUntil(
      () => readLedger(service, parent.id),
      (all) =>
        all.some(
          (e) => e.type === 'QuotaAllocated' && e.data.reason === 'recurring' && e.data.period === '2026-11',
        ),
    );
    const renewal = events.filter(
      (e) =>
        (e.type === 'CreditsReturned' && e.data.reason === 'period-reset') ||
        (e.type === 'QuotaAllocated' && e.data.period === '2026-11'),
    );
    expect(renewal.map((e) => [e.type, e.data.subAccountId, e.data.credits])).toEqual([
      ['CreditsReturned', monthly, 100],
      ['QuotaAllocated', monthly, 100],
    ]);
    expect(expectStatus(await service.api.get(subPath(monthly), parent.key), 200).body).toMatchObject({
      quota: 100,
      used: 0,
      recurringAllocation: 100,
    });
  });
});
