import {
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  startPricedLedger,
  type OpenedParent,
  type TestService,
} from './priced-ledger';

/*
 * Usage analytics over real HTTP: combinable groupBy (subAccount, meter, day, month), the
 * subAccountId filter, one sub-account's own route, and CSV.
 */
jest.setTimeout(60_000);

describe('usage analytics', () => {
  let service: TestService;
  let parent: OpenedParent;
  const parentId = `analytics-${process.pid}`;

  beforeAll(async () => {
    // Three minutes before a month ends: usage may occur up to 5 minutes ahead (rule 9), so it can
    // fall in two months, after the sub-accounts were created.
    ({ service, parent } = await startPricedLedger(
      { now: '2026-10-31T23:57:00Z' },
      parentId,
      [
        ['a', 'bill-to-parent'],
        ['b', 'bill-to-sub-account'],
      ],
      [
        ['a', 10, 'api', '2026-10-31T23:58:00Z'],
        ['a', 4, 'api', '2026-10-31T23:59:00Z'],
        ['a', 3, 'storage', '2026-11-01T00:01:00Z'],
        ['b', 7, 'api', '2026-10-31T23:58:30Z'],
        ['b', 2, 'api', '2026-11-01T00:00:30Z'],
      ],
    ));
  });

  afterAll(() => service?.close());

  const get = async (path: string, token = parent.key) =>
    expectStatus(await service.api.get(`/v1/parents/${parentId}${path}`, token), 200).body;
  const rows = (report: any) =>
    report.groups.map(({ key, credits, records }: any) => [key, credits, records]);

  it('combines dimensions, each group naming its values', async () => {
    const bySubMeter = await get('/usage?groupBy=subAccount,meter');
    expect(bySubMeter.groupBy).toEqual(['subAccount', 'meter']);
    expect(bySubMeter.groups).toEqual([
      { key: 'a,api', subAccountId: 'a', meter: 'api', credits: 14, records: 2 },
      { key: 'a,storage', subAccountId: 'a', meter: 'storage', credits: 3, records: 1 },
      { key: 'b,api', subAccountId: 'b', meter: 'api', credits: 9, records: 2 },
    ]);
    expect(bySubMeter.total).toEqual({ credits: 26, records: 5 });
    expect(rows(await get('/usage?groupBy=meter,subAccount'))).toEqual([
      ['api,a', 14, 2],
      ['api,b', 9, 2],
      ['storage,a', 3, 1],
    ]);
    expect(rows(await get('/usage?groupBy=month'))).toEqual([
      ['2026-10', 21, 3],
      ['2026-11', 5, 2],
    ]);
    expect((await get('/usage?groupBy=month,subAccount')).groups).toEqual([
      { key: '2026-10,a', month: '2026-10', subAccountId: 'a', credits: 14, records: 2 },
      { key: '2026-10,b', month: '2026-10', subAccountId: 'b', credits: 7, records: 1 },
      { key: '2026-11,a', month: '2026-11', subAccountId: 'a', credits: 3, records: 1 },
      { key: '2026-11,b', month: '2026-11', subAccountId: 'b', credits: 2, records: 1 },
    ]);
    expect(rows(await get('/usage?groupBy=day,meter&from=2026-10-31&to=2026-11-02'))).toEqual([
      ['2026-10-31,api', 21, 3],
      ['2026-11-01,api', 2, 1],
      ['2026-11-01,storage', 3, 1],
    ]);
  });

  it("filters by subAccountId, and a sub-account's own route answers the same numbers", async () => {
    for (const groupBy of ['meter', 'day', 'month,meter', 'subAccount']) {
      const filtered = await get(`/usage?groupBy=${groupBy}&subAccountId=a&from=2026-11-01`);
      expect(filtered.subAccountId).toBe('a');
      expect(filtered.total).toEqual({ credits: 3, records: 1 });
      const own = await get(`/sub-accounts/a/usage?groupBy=${groupBy}&from=2026-11-01`);
      expect(own).toEqual(filtered);
    }
    expect(rows(await get('/usage?groupBy=meter&subAccountId=a'))).toEqual([
      ['api', 14, 2],
      ['storage', 3, 1],
    ]);
    const key = await issueSubAccountKey(service, parent, 'b');
    expect(rows(await get('/sub-accounts/b/usage?groupBy=month', key.secret))).toEqual([
      ['2026-10', 7, 1],
      ['2026-11', 2, 1],
    ]);
    // A sub-account key sees only its own sub-account, never the parent's report.
    expectProblem(await service.api.get(`/v1/parents/${parentId}/sub-accounts/a/usage`, key.secret), 404);
    expectProblem(await service.api.get(`/v1/parents/${parentId}/usage`, key.secret), 403);
    expectProblem(await service.api.get(`/v1/parents/${parentId}/sub-accounts/zz/usage`, parent.key), 404);
    expectProblem(await service.api.get(`/v1/parents/${parentId}/usage?subAccountId=zz`, parent.key), 404);
  });

  it('refuses unknown or repeated dimensions and fields the sub-account route does not take', async () => {
    for (const query of [
      'groupBy=week',
      'groupBy=meter,meter',
      'groupBy=',
      'groupBy=meter,',
      'from=2026-10-31T01:00:00Z',
    ]) {
      expectProblem(
        await service.api.get(`/v1/parents/${parentId}/usage?${query}`, parent.key),
        400,
        'validation_failed',
      );
    }
    expectProblem(
      await service.api.get(`/v1/parents/${parentId}/sub-accounts/a/usage?subAccountId=b`, parent.key),
      400,
      'validation_failed',
    );
  });

  it('answers Accept: text/csv with a header row and one row per group', async () => {
    const response = await service.api.request(
      'GET',
      `/v1/parents/${parentId}/usage?groupBy=subAccount,month`,
      {
        token: parent.key,
        headers: { accept: 'text/csv' },
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(response.body).toBe(
      'subAccountId,month,credits,records\r\n' +
        'a,2026-10,14,2\r\na,2026-11,3,1\r\nb,2026-10,7,1\r\nb,2026-11,2,1\r\n',
    );
    const own = await service.api.request(
      'GET',
      `/v1/parents/${parentId}/sub-accounts/b/usage?groupBy=meter`,
      {
        token: parent.key,
        headers: { accept: 'text/csv' },
      },
    );
    expect(own.body).toBe('meter,credits,records\r\napi,9,2\r\n');
    // JSON stays the default for clients that accept anything.
    const json = await service.api.request('GET', `/v1/parents/${parentId}/usage`, {
      token: parent.key,
      headers: { accept: '*/*' },
    });
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
  });
});
