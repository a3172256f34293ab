import {
  expectProblem,
  expectStatus,
  readLedger,
  type OpenedParent,
  type StoredEvent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';
import { readSse } from '../../support/sse';
import { createPricedSub, openPricedParent, use } from '../billing/billing-helpers';

/* The event feed's filters, `types` and `subAccountId`, on pages and over SSE. */
jest.setTimeout(60_000);

describe('feed filters', () => {
  let service: TestService;
  let parent: OpenedParent;
  const parentId = `feedfilter-${process.pid}`;

  const isAbout = (event: StoredEvent, sub: string) =>
    event.data.subAccountId === sub ||
    (event.data.billTo?.type === 'sub-account' && event.data.billTo.id === sub);

  /** Every page of the feed with the given filters, `limit` at a time. */
  async function pages(query: string, limit: number): Promise<string[]> {
    const seen: string[] = [];
    let after: string | undefined;
    for (let n = 0; n < 100; n++) {
      const page = expectStatus(
        await service.api.get(
          `/v1/parents/${parentId}/events?limit=${limit}&${query}${after ? `&after=${after}` : ''}`,
          parent.key,
        ),
        200,
      ).body;
      seen.push(...page.events.map((event: any) => `${event.cursor}:${event.type}`));
      if (page.events.length === 0) return seen;
      after = page.nextCursor;
    }
    throw new Error('the feed never ended');
  }

  beforeAll(async () => {
    service = await startTestService();
    parent = await openPricedParent(service, parentId, 'EUR', '0.001');
    await createPricedSub(service, parent, 'a', 'bill-to-parent');
    await createPricedSub(service, parent, 'b', 'bill-to-sub-account');
    await use(service, parent, 'a', 3);
    await use(service, parent, 'b', 4);
    await use(service, parent, 'a', 5, 'storage');
    expectStatus(
      await service.api.post(
        `/v1/parents/${parentId}/sub-accounts/b/allocations`,
        { credits: 10 },
        parent.key,
      ),
      200,
      201,
    );
  });

  afterAll(() => service?.close());

  it('pages only the events of the given types and sub-account, with no gap and no repeat', async () => {
    const all = await readLedger(service, parentId);
    const expected = (keep: (event: StoredEvent) => boolean) =>
      all.filter(keep).map((event) => `${event.revision}:${event.type}`);

    const usage = expected((event) => event.type === 'UsageRecorded');
    expect(usage).toHaveLength(3);
    expect(await pages('types=UsageRecorded', 100)).toEqual(usage);
    expect(await pages('types=UsageRecorded', 1)).toEqual(usage);

    const aboutB = expected((event) => isAbout(event, 'b'));
    expect(aboutB.map((entry) => entry.split(':')[1])).toEqual([
      'SubAccountCreated',
      'QuotaAllocated',
      'UsageRecorded',
      'QuotaAllocated',
    ]);
    expect(await pages('subAccountId=b', 2)).toEqual(aboutB);

    const both = expected(
      (event) => ['QuotaAllocated', 'UsageRecorded'].includes(event.type) && isAbout(event, 'a'),
    );
    expect(both).toHaveLength(3);
    expect(await pages('types=QuotaAllocated,UsageRecorded&subAccountId=a', 2)).toEqual(both);

    // A page that finds nothing after the cursor still answers, and tells where to resume.
    const last = all[all.length - 1].revision.toString();
    const empty = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/events?types=InvoiceIssued`, parent.key),
      200,
    ).body;
    expect(empty).toEqual({ events: [], nextCursor: last });
  });

  it('refuses unknown types', async () => {
    for (const query of ['types=Usage', 'types=usageRecorded', 'types=UsageRecorded,', 'subAccountId=-x']) {
      expectProblem(
        await service.api.get(`/v1/parents/${parentId}/events?${query}`, parent.key),
        400,
        'validation_failed',
      );
    }
  });

  it('streams only matching events over SSE, before and after the connection opened', async () => {
    const abort = new AbortController();
    const response = await fetch(
      `${service.baseUrl}/v1/parents/${parentId}/events?types=UsageRecorded&subAccountId=a`,
      {
        headers: { authorization: `Bearer ${parent.key}`, accept: 'text/event-stream' },
        signal: abort.signal,
      },
    );
    expect(response.status).toBe(200);
    const reading = readSse(response, 3, abort);
    // Live: one for b (filtered out), then one for a.
    await use(service, parent, 'b', 1);
    const { usageId } = await use(service, parent, 'a', 2);
    const events = await reading.catch((error) => {
      if (abort.signal.aborted) return [];
      throw error;
    });
    expect(
      events.map((event) => [event.event, event.data.data.subAccountId, event.data.data.credits]),
    ).toEqual([
      ['UsageRecorded', 'a', 3],
      ['UsageRecorded', 'a', 5],
      ['UsageRecorded', 'a', 2],
    ]);
    expect(events[2].data.data.usageId).toBe(usageId);
  });
});
