import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  startPricedLedger,
  startTestService,
  type OpenedParent,
  type TestService,
} from './priced-ledger';

/*
 * Accept: text/csv on invoices (list and one), a sub-account's invoices and history: a header row,
 * one row per line or entry, amounts as decimal strings; idle sub-accounts keep their row.
 */
jest.setTimeout(60_000);

/** RFC 4180: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(body: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && body[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) throw new Error(`CSV does not end with CRLF: ${JSON.stringify(body)}`);
  return rows;
}

/** The rows as objects keyed by the header row, checking every row has the header's width. */
function records(body: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(body);
  for (const row of rows) expect(row).toHaveLength(header.length);
  return rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i]])));
}

describe('CSV exports', () => {
  let dataDir: string;
  let service: TestService;
  let parent: OpenedParent;
  const parentId = `csv-${process.pid}`;

  const csv = async (urlPath: string, token: string) => {
    const response = await service.api.request('GET', `/v1/parents/${parentId}${urlPath}`, {
      token,
      headers: { accept: 'text/csv' },
    });
    expectStatus(response, 200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="[^"]+\.csv"$/);
    return response;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-csv-'));
    ({ service, parent } = await startPricedLedger(
      { now: '2026-10-20T12:00:00Z', dataDir },
      parentId,
      [
        ['a', 'bill-to-parent'],
        ['idle', 'bill-to-parent'],
        ['own', 'bill-to-sub-account', '0.0125'],
        ['quiet', 'bill-to-sub-account'],
      ],
      [
        ['a', 1_235, 'api'], // 1.235 EUR → 1.24 (half-even)
        ['a', 500, 'images/large'], // 0.50 EUR
        ['own', 10, 'api'], // 0.125 → 0.12 (half-even)
      ],
    ));
  });

  afterAll(async () => {
    await service?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('exports a history page, one row per entry with the balances after it', async () => {
    const response = await csv('/sub-accounts/a/history?limit=2', parent.key);
    const rows = records(response.body);
    expect(
      rows.map((row) => [row.type, row.credits, row.quotaAfter, row.usedAfter, row.remainingAfter]),
    ).toEqual([
      ['SubAccountCreated', '0', '0', '0', '0'],
      ['QuotaAllocated', '10000', '10000', '0', '10000'],
    ]);
    expect(rows[1]).toMatchObject({ actorType: 'parent', actorId: parentId, reason: expect.any(String) });
    const next = response.headers.get('x-next-cursor');
    expect(next).toBeTruthy();
    const rest = records((await csv(`/sub-accounts/a/history?cursor=${next}`, parent.key)).body);
    expect(rest.map((row) => [row.type, row.credits, row.meter, row.usedAfter, row.remainingAfter])).toEqual([
      ['UsageRecorded', '1235', 'api', '1235', '8765'],
      ['UsageRecorded', '500', 'images/large', '1735', '8265'],
    ]);
    expect(rest[0].occurredAt).toMatch(/^2026-10-20T12:/);
    expect(rest[0].usageId).not.toBe('');
    // Without limit, an export is the whole range, not a page of it.
    const whole = await csv('/sub-accounts/a/history', parent.key);
    expect(whole.headers.get('x-next-cursor')).toBeNull();
    expect(records(whole.body).map((row) => row.type)).toEqual([
      'SubAccountCreated',
      'QuotaAllocated',
      'UsageRecorded',
      'UsageRecorded',
    ]);
    // JSON is still what a client gets by default, with the same entries.
    const json = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/sub-accounts/a/history`, parent.key),
      200,
    );
    expect(json.body.entries.map((entry: any) => entry.eventId)).toEqual(
      [...records((await csv('/sub-accounts/a/history?limit=2', parent.key)).body), ...rest].map(
        (row) => row.eventId,
      ),
    );
  });

  it('exports the draft and the issued invoices, one row per line, idle sub-accounts included', async () => {
    const draft = records((await csv('/invoices', parent.key)).body);
    expect(
      draft.map((row) => [
        row.status,
        row.billToId,
        row.subAccountId,
        row.kind,
        row.meter,
        row.credits,
        row.amount,
      ]),
    ).toEqual([
      ['draft', parentId, 'a', 'usage', 'api', '1235', '1.24'],
      ['draft', parentId, 'a', 'usage', 'images/large', '500', '0.50'],
      ['draft', parentId, 'idle', 'none', '', '0', '0.00'],
      ['draft', 'own', 'own', 'usage', 'api', '10', '0.12'],
      ['draft', 'quiet', 'quiet', 'none', '', '0', '0.00'],
    ]);
    expect(draft[0]).toMatchObject({
      number: '',
      currency: 'EUR',
      period: '2026-10',
      unitPrice: '0.001',
      invoiceTotal: '1.74',
    });

    // Close October: restart over the same data with the clock in November.
    await service.close();
    service = await startTestService({ now: '2026-11-02T09:00:00Z', dataDir });
    expectStatus(
      await service.api.post(
        `/v1/parents/${parentId}/billing-periods/2026-10/close`,
        undefined,
        service.operatorToken,
      ),
      201,
    );
    const issued = records((await csv('/invoices?period=2026-10', parent.key)).body);
    expect(
      issued.map((row) => [
        row.status,
        row.invoiceId,
        row.subAccountId,
        row.kind,
        row.amount,
        row.invoiceTotal,
      ]),
    ).toEqual([
      ['issued', `inv-${parentId}-2026-10-parent`, 'a', 'usage', '1.24', '1.74'],
      ['issued', `inv-${parentId}-2026-10-parent`, 'a', 'usage', '0.50', '1.74'],
      ['issued', `inv-${parentId}-2026-10-parent`, 'idle', 'none', '0.00', '1.74'],
      ['issued', `inv-${parentId}-2026-10-sub-own`, 'own', 'usage', '0.12', '0.12'],
      ['issued', `inv-${parentId}-2026-10-sub-quiet`, 'quiet', 'none', '0.00', '0.00'],
    ]);
    expect(new Set(issued.map((row) => row.number)).size).toBe(3);

    const one = records((await csv(`/invoices/inv-${parentId}-2026-10-sub-own`, parent.key)).body);
    expect(one).toEqual([issued[3]]);
    const key = await issueSubAccountKey(service, parent, 'quiet');
    const own = records((await csv('/sub-accounts/quiet/invoices', key.secret)).body);
    expect(own.filter((row) => row.status === 'issued')).toEqual([issued[4]]);
    expectProblem(
      await service.api.request('GET', `/v1/parents/${parentId}/invoices/inv-${parentId}-2026-10-sub-own`, {
        token: key.secret,
        headers: { accept: 'text/csv' },
      }),
      404,
    );
  });
});
