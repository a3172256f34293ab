import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  eventStoreClientOf,
  expectProblem,
  expectStatus,
  readLedger,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';
import { openPricedParent } from './billing-helpers';

/*
 * One parent with thousands of sub-accounts, created through the batch route, closing a period
 * whose invoices are far more than one append (1 MiB): 6,000 sub-accounts pay their own invoices
 * and 2,000 are billed to the parent, whose consolidated invoice (2,000 sections) is more than one
 * event. Everything over real HTTP; the log is read back through the service's own client.
 */

const OCTOBER = '2026-10-05T10:00:00Z';
const NOVEMBER = '2026-11-02T09:00:00Z';
/** 8,000 in `npm test`; BIG_PARENT_SUB_ACCOUNTS=100000 runs the same story at the scale of SPEC §6. */
const SUB_ACCOUNTS = Number(process.env.BIG_PARENT_SUB_ACCOUNTS ?? 8_000);
const OWN = (SUB_ACCOUNTS / 4) * 3;
const TO_PARENT = SUB_ACCOUNTS / 4;
jest.setTimeout(SUB_ACCOUNTS > 8_000 ? 1_800_000 : 180_000);
const subId = (n: number) => `s${String(n).padStart(6, '0')}`;

type Invoice = { invoiceId: string; sequence: number; sections: { subAccountId: string }[]; total: string };

describe('a parent with thousands of sub-accounts over real HTTP', () => {
  let dataDir: string;
  let service: TestService;
  let parent: OpenedParent;
  const parentId = `big-${process.pid}`;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-big-parent-'));
    service = await startTestService({ now: OCTOBER, dataDir, rateLimitPerSecond: 0 });
    parent = await openPricedParent(service, parentId, 'EUR', '0.001');
    // 100 credits of quota for each sub-account, besides the 1,000,000 it opens with.
    expectStatus(
      await service.api.post(
        `/v1/parents/${parentId}/credits`,
        { credits: SUB_ACCOUNTS * 100 },
        service.operatorToken,
      ),
      200,
      201,
    );
  });

  afterAll(async () => {
    await service?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates sub-accounts in batches of up to 1,000, each created or refused on its own', async () => {
    const url = `/v1/parents/${parentId}/sub-accounts/batch`;
    const answer = expectStatus(
      await service.api.post(
        url,
        {
          subAccounts: [
            { id: 'first', name: 'First', billingModel: 'bill-to-parent', quota: 100 },
            { id: 'first', name: 'Again', billingModel: 'bill-to-parent' },
            { id: 'greedy', name: 'Greedy', billingModel: 'bill-to-parent', quota: 900_000_000 },
            { id: 'second', name: 'Second', billingModel: 'bill-to-sub-account', region: 'eu' },
          ],
        },
        parent.key,
      ),
      200,
    );
    const results = answer.body.results;
    expect(results.map((result: { status: number }) => result.status)).toEqual([201, 409, 409, 201]);
    expect(results[0].subAccount).toMatchObject({ id: 'first', quota: 100, used: 0, remaining: 100 });
    expect(results[1].error).toMatchObject({ code: 'already_exists', instance: `${url}#1` });
    expect(results[2].error).toMatchObject({ code: 'insufficient_pool' });
    expect(results[3].subAccount).toMatchObject({
      id: 'second',
      region: 'eu',
      billingModel: 'bill-to-sub-account',
    });
    // Repeating it: what exists is refused as the single create refuses it, nothing new recorded.
    const before = (await readLedger(service, parentId)).length;
    const again = expectStatus(
      await service.api.post(
        url,
        { subAccounts: [{ id: 'first', name: 'First', billingModel: 'bill-to-parent' }] },
        parent.key,
      ),
      200,
    );
    expect(again.body.results[0]).toMatchObject({ status: 409, error: { code: 'already_exists' } });
    expect((await readLedger(service, parentId)).length).toBe(before);

    // Bad input refuses the whole request and records nothing.
    const tooMany = Array.from({ length: 1_001 }, (_, n) => ({
      id: `x${n}`,
      name: 'X',
      billingModel: 'bill-to-parent',
    }));
    expectProblem(
      await service.api.post(url, { subAccounts: tooMany }, parent.key),
      400,
      'validation_failed',
    );
    expectProblem(await service.api.post(url, { subAccounts: [] }, parent.key), 400, 'validation_failed');
    expectProblem(
      await service.api.post(
        url,
        { subAccounts: [{ id: 'bad id', name: 'X', billingModel: 'bill-to-parent' }] },
        parent.key,
      ),
      400,
      'validation_failed',
    );
    expectProblem(
      await service.api.post(
        url,
        { subAccounts: [{ id: 'priced', name: 'P', billingModel: 'bill-to-parent', creditPrice: '0.002' }] },
        parent.key,
      ),
      403,
      'forbidden',
    );
    expect((await readLedger(service, parentId)).length).toBe(before);
  });

  it(`closes a period with ${OWN + 2} invoices (far more than one append), lists, replays and repeats it`, async () => {
    for (let from = 0; from < OWN + TO_PARENT; from += 1_000) {
      const subAccounts = Array.from({ length: 1_000 }, (_, i) => ({
        id: subId(from + i),
        name: `Client ${from + i}`,
        billingModel: from + i < OWN ? 'bill-to-sub-account' : 'bill-to-parent',
        quota: 100,
      }));
      const created = expectStatus(
        await service.api.post(`/v1/parents/${parentId}/sub-accounts/batch`, { subAccounts }, parent.key),
        200,
      );
      expect(created.body.results.filter((result: { status: number }) => result.status !== 201)).toEqual([]);
      const records = subAccounts.map((sub, i) => ({
        subAccountId: sub.id,
        idempotencyKey: `u-${sub.id}`,
        credits: 10 + (i % 9),
        meter: i % 2 === 0 ? 'api' : 'images',
      }));
      const used = expectStatus(
        await service.api.post(`/v1/parents/${parentId}/usage/batch`, { records }, parent.key),
        200,
      );
      expect(used.body.results.filter((result: { status: number }) => result.status !== 201)).toEqual([]);
    }

    await service.close();
    service = await startTestService({
      now: NOVEMBER,
      dataDir,
      operatorToken: service.operatorToken,
      rateLimitPerSecond: 0,
    });
    const closeUrl = `/v1/parents/${parentId}/billing-periods/2026-10/close`;
    const closeStarted = Date.now();
    const closed = expectStatus(await service.api.post(closeUrl, {}, service.operatorToken), 201);
    console.log(
      `${SUB_ACCOUNTS} sub-accounts: the close answered in ${Date.now() - closeStarted} ms with ` +
        `${closed.body.invoices.length} invoices (${Buffer.byteLength(JSON.stringify(closed.body))} bytes of JSON)`,
    );
    const invoices = closed.body.invoices as Invoice[];
    // One per own-bill sub-account (and `second`), one consolidated for the parent.
    expect(invoices).toHaveLength(OWN + 2);
    expect(invoices.map((invoice) => invoice.sequence)).toEqual(invoices.map((_, i) => i + 1));
    const consolidated = invoices[0];
    expect(consolidated.invoiceId).toBe(`inv-${parentId}-2026-10-parent`);
    expect(consolidated.sections).toHaveLength(TO_PARENT + 1);

    // The ledger stream holds one closing that commits the invoices written to their own stream.
    const ledger = await readLedger(service, parentId);
    const closings = ledger.filter((event) => event.type === 'BillingPeriodClosed');
    expect(closings).toHaveLength(1);
    expect(closings[0].metadata.schemaVersion).toBe(2);
    const commit = closings[0].data.invoices;
    expect(commit).toMatchObject({ stream: `ledgerinvoices-${parentId}`, count: OWN + 2 });
    expect(commit.chunks.length).toBeGreaterThan(3);
    expect(ledger.filter((event) => event.type === 'InvoiceIssued')).toHaveLength(0);
    const parts = await readTypes(service, commit.stream);
    expect(parts.get('InvoicePartIssued')).toBeGreaterThan(1);

    // Listed, one by one, per sub-account, and in the period list, as any close.
    const listed = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/invoices?period=2026-10`, parent.key),
      200,
    );
    expect(listed.body.invoices).toEqual(invoices);
    const one = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/invoices/${consolidated.invoiceId}`, parent.key),
      200,
    );
    expect(one.body).toEqual(invoices[0]);
    const last = invoices[invoices.length - 1];
    const lastOne = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/invoices/${last.invoiceId}`, parent.key),
      200,
    );
    expect(lastOne.body).toEqual(last);
    expectProblem(
      await service.api.get(
        `/v1/parents/${parentId}/invoices/inv-${parentId}-2026-10-sub-nobody`,
        parent.key,
      ),
      404,
      'not_found',
    );
    const own = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/sub-accounts/${subId(4_321)}/invoices`, parent.key),
      200,
    );
    expect(own.body.invoices).toEqual([
      invoices.find((invoice) => invoice.invoiceId.endsWith(`-sub-${subId(4_321)}`)),
    ]);
    const periods = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/billing-periods`, parent.key),
      200,
    );
    expect(periods.body.periods).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ period: '2026-10', status: 'closed', invoices: OWN + 2 }),
      ]),
    );

    const replay = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/billing-periods/2026-10/replay`, service.operatorToken),
      200,
    );
    expect({
      matches: replay.body.matches,
      differences: replay.body.differences,
      issued: replay.body.issued.length,
    }).toEqual({
      matches: true,
      differences: [],
      issued: OWN + 2,
    });

    // Repeating the close changes nothing and answers the same invoices.
    const repeat = expectStatus(await service.api.post(closeUrl, {}, service.operatorToken), 200);
    expect(repeat.body.invoices).toEqual(invoices);
    expect((await readLedger(service, parentId)).length).toBe(ledger.length);
  });
});

async function readTypes(service: TestService, stream: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const resolved of eventStoreClientOf(service).readStream(stream)) {
    const type = resolved.event?.type ?? '';
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}
