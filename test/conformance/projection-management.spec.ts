import { jsonEvent, NotFoundError, type EventStoreDBClient } from '@eventstore/db-client';
import { collect, startTestEventStore, uniquePrefix, type TestEventStore } from '../support/event-store';
import { expectRejection, sleep } from './conformance.helpers';

const STANDARD = ['$by_category', '$by_event_type', '$streams', '$stream_by_category'];

/** The `$ce-` stream's links as `revision@stream`, or [] while it does not exist. */
async function categoryLinks(client: EventStoreDBClient, category: string): Promise<string[]> {
  try {
    const events = await collect(client.readStream(`$ce-${category}`));
    return events.map(({ event }) => Buffer.from(event!.data as Uint8Array).toString('utf8'));
  } catch (error) {
    if ((error as { type?: string }).type === 'stream-not-found') return [];
    throw error;
  }
}

/**
 * The Projections service as the client's own tests use it on the standard projections: status and list
 * (Statistics), Disable and Enable. A disabled `$by_category` links nothing; enabled again, it catches up
 * with what was appended meanwhile. The suite leaves `$by_category` running, as it found it.
 */
describe('standard projections: status, disable, enable', () => {
  let store: TestEventStore;
  let client: EventStoreDBClient;

  beforeAll(async () => {
    store = await startTestEventStore();
    client = store.client;
  });

  afterAll(async () => {
    await client?.enableProjection('$by_category').catch(() => undefined);
    await store?.stop();
  });

  it('lists the four standard projections, running', async () => {
    const listed = await client.listProjections();
    const standard = listed.filter((p) => STANDARD.includes(p.name));
    expect(standard.map((p) => p.name).sort()).toEqual([...STANDARD].sort());
    for (const p of standard) {
      expect(p.projectionStatus).toBe('Running');
    }
    const status = await client.getProjectionStatus('$by_category');
    expect(status.name).toBe('$by_category');
    expect(status.projectionStatus).toBe('Running');
  });

  it('stops linking while disabled, and catches up when enabled again', async () => {
    const category = uniquePrefix('toggle');
    await client.disableProjection('$by_category');
    expect((await client.getProjectionStatus('$by_category')).projectionStatus).toBe('Stopped');

    await client.appendToStream(`${category}-1`, jsonEvent({ type: 'WhileStopped', data: {} }));
    // Nothing is linked while it is stopped (a real node would have linked within this pause).
    await sleep(500);
    expect(await categoryLinks(client, category)).toEqual([]);

    await client.enableProjection('$by_category');
    expect((await client.getProjectionStatus('$by_category')).projectionStatus).toBe('Running');
    await client.appendToStream(`${category}-2`, jsonEvent({ type: 'AfterEnable', data: {} }));
    let links: string[] = [];
    while (links.length < 2) {
      links = await categoryLinks(client, category);
      if (links.length < 2) await sleep(50);
    }
    expect(links).toEqual([`0@${category}-1`, `0@${category}-2`]);
  });

  it('answers NotFound for a projection it does not have', async () => {
    await expectRejection(client.enableProjection('no-such-projection'), NotFoundError);
    await expectRejection(client.getProjectionStatus('no-such-projection'), NotFoundError);
  });
});
