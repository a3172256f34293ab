import { expectProblem, expectStatus, readLedger, type OpenedParent } from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';
import { readSse } from '../../support/sse';
import { createPricedSub, openPricedParent, use } from './billing-helpers';

/* The read side over real HTTP: the event feed (pages and live SSE), usage analytics, balance as of. */
jest.setTimeout(60_000);

describe('the read side over real HTTP', () => {
  let service: TestService;
  let parent: OpenedParent;
  const parentId = `feed-${process.pid}`;

  beforeAll(async () => {
    // Two minutes before midnight, so usage can fall on two days without leaving rule 9's window.
    service = await startTestService({ now: '2026-10-04T23:58:00Z' });
    parent = await openPricedParent(service, parentId, 'EUR', '0.001');
    await createPricedSub(service, parent, 'x', 'bill-to-parent');
    await createPricedSub(service, parent, 'y', 'bill-to-parent');
    await use(service, parent, 'x', 10, 'api');
    await use(service, parent, 'x', 5, 'storage', '2026-10-05T00:02:00Z');
    await use(service, parent, 'y', 7, 'api');
  });

  afterAll(() => service?.close());

  it('pages the feed by cursor with no gap and no repeat', async () => {
    const all = await readLedger(service, parentId);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = expectStatus(
        await service.api.get(
          `/v1/parents/${parentId}/events?limit=3${after ? `&after=${after}` : ''}`,
          parent.key,
        ),
        200,
      ).body;
      if (page.events.length === 0) break;
      seen.push(...page.events.map((event: any) => event.cursor));
      after = page.nextCursor;
    }
    expect(seen).toEqual(all.map((event) => event.revision.toString()));
    const first = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/events?limit=1`, service.operatorToken),
      200,
    );
    expect(first.body.events[0]).toMatchObject({ cursor: '0', type: 'ParentAccountOpened' });
    expectProblem(await service.api.get(`/v1/parents/${parentId}/events?after=x`, parent.key), 400);
    const stranger = await openPricedParent(service, `stranger-${process.pid}`, 'EUR', '0.001');
    expectProblem(await service.api.get(`/v1/parents/${parentId}/events`, stranger.key), 404);
  });

  it('streams the feed live over SSE, resuming after the cursor given', async () => {
    const all = await readLedger(service, parentId);
    const resumeAfter = all[all.length - 3].revision.toString();
    const abort = new AbortController();
    const response = await fetch(`${service.baseUrl}/v1/parents/${parentId}/events`, {
      headers: {
        authorization: `Bearer ${parent.key}`,
        accept: 'text/event-stream',
        'last-event-id': resumeAfter,
      },
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reading = readSse(response, 3, abort);
    // Two events already there, then one appended while the stream is open.
    const { usageId } = await use(service, parent, 'y', 1, 'api');
    const events = await reading.catch((error) => {
      if (abort.signal.aborted) return [];
      throw error;
    });
    expect(events.map((event) => event.id)).toEqual([
      all[all.length - 2].revision.toString(),
      all[all.length - 1].revision.toString(),
      String(all.length),
    ]);
    expect(events[2]).toMatchObject({
      event: 'UsageRecorded',
      data: { cursor: String(all.length), data: { usageId } },
    });
  });

  it('totals usage by sub-account, meter and day, reflecting the last write at once', async () => {
    await use(service, parent, 'y', 2, 'api');
    const by = async (groupBy: string, range = '') =>
      expectStatus(
        await service.api.get(`/v1/parents/${parentId}/usage?groupBy=${groupBy}${range}`, parent.key),
        200,
      ).body;
    const bySub = await by('subAccount');
    expect(bySub.groups.map((group: any) => [group.key, group.credits])).toEqual([
      ['x', 15],
      ['y', 10],
    ]);
    expect((await by('meter')).groups.map((group: any) => [group.key, group.credits])).toEqual([
      ['api', 20],
      ['storage', 5],
    ]);
    const days = (await by('day')).groups.map((group: any) => [group.key, group.credits, group.records]);
    // x 10, y 7, y 1 (the SSE test), y 2 on the 4th; x 5 on the 5th.
    expect(days).toEqual([
      ['2026-10-04', 20, 4],
      ['2026-10-05', 5, 1],
    ]);
    const onlyFifth = await by('day', '&from=2026-10-05&to=2026-10-06');
    expect(onlyFifth.total).toEqual({ credits: 5, records: 1 });
    expectProblem(await service.api.get(`/v1/parents/${parentId}/usage?groupBy=week`, parent.key), 400);
    // The operator reads what the parent reads (SPEC §4).
    expect(
      expectStatus(await service.api.get(`/v1/parents/${parentId}/usage`, service.operatorToken), 200).body,
    ).toEqual(bySub);
  });

  it('answers a balance as of past instants', async () => {
    const asOf = async (instant: string) =>
      expectStatus(
        await service.api.get(
          `/v1/parents/${parentId}/sub-accounts/x/balance?asOf=${encodeURIComponent(instant)}`,
          parent.key,
        ),
        200,
      ).body;
    expect(await asOf('2020-01-01T00:00:00Z')).toMatchObject({ existed: false, quota: 0 });
    // Now by the service clock (23:58 and a few seconds): an instant still to come is refused.
    const now = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/sub-accounts/x/balance`, parent.key),
      200,
    ).body.asOf as string;
    expect(await asOf(now)).toMatchObject({
      existed: true,
      quota: 10_000,
      used: 15,
      remaining: 9_985,
    });
  });
});
