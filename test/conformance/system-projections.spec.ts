import { once } from 'node:events';
import {
  BACKWARDS,
  END,
  excludeSystemEvents,
  START,
  type EventStoreDBClient,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { collect, startTestEventStore, uniquePrefix, type TestEventStore } from '../support/event-store';
import { receiveUntil, sleep, testEvents } from './conformance.helpers';

/**
 * What a started node has besides the clients' events: the `$epoch-information` event it writes at every
 * start, and the standard projections' streams (`$ce-`, `$et-`, `$streams`, `$category-`), read as links
 * and resolved with resolveLinkTos. Consumers subscribe to `$ce-<category>`, so these must look the same
 * on the embedded server as on a real node started with its standard projections running
 * (`--run-projections=All --start-standard-projections=true`). A real node projects asynchronously, so
 * every read of a projected stream waits until it shows what the test appended.
 */

/** Reads `stream` until `done` is satisfied; a projection that never gets there fails on jest's timeout. */
async function eventually(
  client: EventStoreDBClient,
  stream: string,
  options: { resolveLinkTos?: boolean },
  done: (events: ResolvedEvent[]) => boolean,
): Promise<ResolvedEvent[]> {
  for (;;) {
    let events: ResolvedEvent[] = [];
    try {
      events = await collect(client.readStream(stream, options));
    } catch (error) {
      if ((error as { type?: string }).type !== 'stream-not-found') throw error;
    }
    if (done(events)) return events;
    await sleep(50);
  }
}

const text = (data: unknown): string => Buffer.from(data as Uint8Array).toString('utf8');

describe('a started node: epoch record and standard projections', () => {
  let store: TestEventStore;
  let client: EventStoreDBClient;
  let category: string;
  let eventType: string;
  let streamA: string;
  let streamB: string;
  let idsA: string[];
  let idsB: string[];

  beforeAll(async () => {
    store = await startTestEventStore();
    client = store.client;
    category = uniquePrefix('sysproj');
    eventType = `${category}Happened`;
    streamA = `${category}-a`;
    // Two separators: the category is what comes before the first one (KurrentDB's default "first -").
    streamB = `${category}-b-2`;
    const a = testEvents(2, 'a', eventType);
    const b = testEvents(1, 'b', eventType);
    idsA = a.map((e) => e.id!);
    idsB = b.map((e) => e.id!);
    await client.appendToStream(streamA, a);
    await client.appendToStream(streamB, b);
  });

  afterAll(async () => {
    await store?.stop();
  });

  it('has a $epoch-information event, so $all is never empty', async () => {
    const [epoch] = await collect(
      client.readStream('$epoch-information', { direction: BACKWARDS, fromRevision: END, maxCount: 1 }),
    );
    expect(epoch.event!.type).toBe('$epoch-information');
    expect(epoch.event!.data).toMatchObject({
      epochNumber: expect.any(Number),
      epochPosition: expect.any(Number),
      epochId: expect.any(String),
      leaderInstanceId: expect.any(String),
    });
    const all = await collect(client.readAll({ maxCount: 1000 }));
    expect(all.some((e) => e.event?.streamId === '$epoch-information')).toBe(true);
  });

  it('links every event of a category in $ce-<category>, as `revision@stream` links', async () => {
    const links = await eventually(client, `$ce-${category}`, {}, (events) => events.length >= 3);
    expect(links).toHaveLength(3);
    for (const { event, link } of links) {
      expect(link).toBeUndefined();
      expect(event!.type).toBe('$>');
      expect(event!.streamId).toBe(`$ce-${category}`);
    }
    expect(links.map(({ event }) => text(event!.data))).toEqual([
      `0@${streamA}`,
      `1@${streamA}`,
      `0@${streamB}`,
    ]);
    expect(links.map(({ event }) => event!.revision)).toEqual([0n, 1n, 2n]);
  });

  it('resolves $ce-<category> links on a stream read: the event, and the link that led to it', async () => {
    const resolved = await eventually(
      client,
      `$ce-${category}`,
      { resolveLinkTos: true },
      (e) => e.length >= 3,
    );
    expect(resolved.map(({ event }) => event!.id)).toEqual([...idsA, ...idsB]);
    expect(resolved.map(({ event }) => [event!.streamId, event!.revision])).toEqual([
      [streamA, 0n],
      [streamA, 1n],
      [streamB, 0n],
    ]);
    expect(resolved[1].event!.data).toEqual({ index: 1, tag: 'a' });
    for (const [k, { event, link }] of resolved.entries()) {
      expect(link!.type).toBe('$>');
      expect(link!.streamId).toBe(`$ce-${category}`);
      expect(link!.revision).toBe(BigInt(k));
      expect((link!.metadata as { $causedBy?: string }).$causedBy).toBe(event!.id);
    }
    // A link is the same event every time it is read.
    const again = await collect(client.readStream(`$ce-${category}`, { resolveLinkTos: true }));
    expect(again.map(({ link }) => link!.id)).toEqual(resolved.map(({ link }) => link!.id));
  });

  it('links every event of a type in $et-<type>', async () => {
    const resolved = await eventually(
      client,
      `$et-${eventType}`,
      { resolveLinkTos: true },
      (e) => e.length >= 3,
    );
    expect(resolved.map(({ event }) => event!.id)).toEqual([...idsA, ...idsB]);
    expect(resolved.every(({ link }) => link?.type === '$>' && link.streamId === `$et-${eventType}`)).toBe(
      true,
    );
  });

  it('links the first event of every new stream in $streams', async () => {
    const wanted = [`0@${streamA}`, `0@${streamB}`];
    const found = (events: ResolvedEvent[]) =>
      events.map(({ event }) => text(event!.data)).filter((d) => wanted.includes(d));
    const streams = await eventually(client, '$streams', {}, (events) => found(events).length === 2);
    expect(found(streams)).toEqual(wanted);
    expect(streams.every(({ event }) => event!.type === '$>')).toBe(true);
  });

  it('names every new stream of a category in $category-<category> ($@ events)', async () => {
    const refs = await eventually(client, `$category-${category}`, {}, (events) => events.length >= 2);
    expect(refs.map(({ event }) => [event!.type, text(event!.data)])).toEqual([
      ['$@', streamA],
      ['$@', streamB],
    ]);
  });

  it('resolves links on a $ce-<category> subscription, catching up and then live', async () => {
    await eventually(client, `$ce-${category}`, {}, (events) => events.length >= 3);
    const subscription = client.subscribeToStream(`$ce-${category}`, {
      fromRevision: START,
      resolveLinkTos: true,
    });
    const liveStream = `${category}-live`;
    const live = testEvents(2, 'live', eventType);
    try {
      const { finished } = receiveUntil(subscription, (received) => received.length >= 5);
      await once(subscription, 'confirmation');
      await client.appendToStream(liveStream, live);
      const delivered = await finished;
      expect(delivered.map(({ event }) => event!.id)).toEqual([...idsA, ...idsB, ...live.map((e) => e.id)]);
      expect(delivered.map(({ event }) => event!.streamId).slice(3)).toEqual([liveStream, liveStream]);
      expect(delivered.map(({ link }) => link!.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
      expect(delivered.every(({ link }) => link!.streamId === `$ce-${category}`)).toBe(true);
    } finally {
      await subscription.unsubscribe();
    }
  });

  it('keeps links and system events out of a $all subscription that excludes system events', async () => {
    const seen: string[] = [];
    const subscription = client.subscribeToAll({ fromPosition: START, filter: excludeSystemEvents() });
    try {
      const { finished } = receiveUntil(subscription, (received) =>
        received.some(({ event }) => event?.streamId === streamB),
      );
      for (const { event } of await finished) seen.push(event!.streamId);
    } finally {
      await subscription.unsubscribe();
    }
    expect(seen.filter((s) => s.startsWith('$'))).toEqual([]);
    expect(seen).toEqual(expect.arrayContaining([streamA, streamB]));
  });
});
