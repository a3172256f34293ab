import {
  BACKWARDS,
  END,
  FORWARDS,
  START,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamRecordedEvent,
  type AllStreamResolvedEvent,
  type EventData,
  type Filter,
  type Position,
} from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';
import { collect, startTestEventStore, uniquePrefix, type TestEventStore } from '../support/event-store';
import { comparePositions, expectStrictlyIncreasing, receiveUntil } from './conformance.helpers';

describe('readAll', () => {
  let store: TestEventStore;
  let prefix: string;
  let streamA: string;
  let streamB: string;
  let typeA: string;
  let typeB: string;
  /** Our events in the order they were appended: A0 B0 A1 B1 A2 B2 A3 B3. */
  let written: EventData[];

  beforeAll(async () => {
    store = await startTestEventStore();
    prefix = uniquePrefix('read_all');
    streamA = `${prefix}-a`;
    streamB = `${prefix}-b`;
    // Type names unique to this run, so type filters on a shared real server match only ours.
    typeA = `${prefix}TypeA`;
    typeB = `${prefix}TypeB`;
    written = [];
    for (let i = 0; i < 4; i++) {
      const a = jsonEvent({ id: randomUUID(), type: typeA, data: { i } });
      const b = jsonEvent({ id: randomUUID(), type: typeB, data: { i } });
      await store.client.appendToStream(streamA, a);
      await store.client.appendToStream(streamB, b);
      written.push(a, b);
    }
  });

  afterAll(async () => {
    await store?.stop();
  });

  const ours = (events: AllStreamResolvedEvent[]) =>
    events.filter(({ event }) => event!.streamId.startsWith(`${prefix}-`));
  const idsOf = (events: AllStreamResolvedEvent[]) => events.map(({ event }) => event!.id);
  const ourPositions = async (): Promise<Position[]> =>
    ours(await collect(store.client.readAll())).map(({ event }) => event!.position);

  it('reads forwards from START in commit order, commit positions strictly increasing', async () => {
    const all = await collect(store.client.readAll({ direction: FORWARDS, fromPosition: START }));
    expect(idsOf(ours(all))).toEqual(written.map((e) => e.id));
    expectStrictlyIncreasing(
      all.map(({ event }) => event!.position.commit),
      '$all commit positions',
    );
  });

  it('reads backwards from END in reverse commit order', async () => {
    const all = await collect(store.client.readAll({ direction: BACKWARDS, fromPosition: END }));
    expect(idsOf(ours(all))).toEqual(written.map((e) => e.id).reverse());
    expectStrictlyIncreasing(
      all.map(({ event }) => event!.position.commit).reverse(),
      'reversed backwards $all commit positions',
    );
  });

  it('honours maxCount both ways', async () => {
    expect(await collect(store.client.readAll({ maxCount: 3 }))).toHaveLength(3);
    const lastTwo = await collect(
      store.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 2 }),
    );
    expect(lastTwo).toHaveLength(2);
    expect(comparePositions(lastTwo[0].event!.position, lastTwo[1].event!.position)).toBe(1);
  });

  it('reads forwards from a position including the event at it', async () => {
    const positions = await ourPositions();
    const [atPosition] = await collect(store.client.readAll({ fromPosition: positions[2], maxCount: 1 }));
    expect(atPosition.event!.id).toBe(written[2].id);
    expect(atPosition.event!.position).toEqual(positions[2]);

    const rest = ours(await collect(store.client.readAll({ fromPosition: positions[5] })));
    expect(idsOf(rest)).toEqual(written.slice(5).map((e) => e.id));
  });

  it('reads backwards from a position, starting with the event before it', async () => {
    // A backward $all read takes its position as the end of the previous record (EventStoreDB's
    // "post-position"), so the event that starts at that position is not part of the result.
    const positions = await ourPositions();
    const before = ours(
      await collect(store.client.readAll({ direction: BACKWARDS, fromPosition: positions[3] })),
    );
    expect(idsOf(before)).toEqual(
      written
        .slice(0, 3)
        .map((e) => e.id)
        .reverse(),
    );
  });

  /**
   * Client 6.2.1 has no filtered readAll: server-side filters are reached through subscribeToAll.
   * Each case subscribes from START, appends a sentinel the filter must let through, and compares
   * what arrived up to the sentinel with an unfiltered readAll filtered here by the same rule.
   */
  describe('with a server-side filter (subscribeToAll)', () => {
    async function filteredUntilSentinel(
      filter: Filter,
      sentinel: { stream: string; type: string },
      keep: (event: AllStreamRecordedEvent) => boolean,
    ): Promise<{ delivered: string[]; expected: string[] }> {
      const subscription = store.client.subscribeToAll({ fromPosition: START, filter });
      try {
        const marker = jsonEvent({ id: randomUUID(), type: sentinel.type, data: { sentinel: true } });
        const { finished } = receiveUntil(subscription, (received) =>
          received.some(({ event }) => event?.id === marker.id),
        );
        await store.client.appendToStream(sentinel.stream, marker);
        const delivered = idsOf(await finished);
        const everything = (await collect(store.client.readAll())).map(({ event }) => event!);
        const expected = everything
          .slice(0, everything.findIndex((event) => event.id === marker.id) + 1)
          .filter(keep)
          .map((event) => event.id);
        return { delivered, expected };
      } finally {
        await subscription.unsubscribe();
      }
    }

    it('keeps the streams whose names start with a prefix', async () => {
      const { delivered, expected } = await filteredUntilSentinel(
        streamNameFilter({ prefixes: [streamA] }),
        { stream: streamA, type: typeA },
        (event) => event.streamId.startsWith(streamA),
      );
      expect(delivered).toEqual(expected);
      expect(delivered.slice(0, 4)).toEqual(written.filter((_, i) => i % 2 === 0).map((e) => e.id));
    });

    it('accepts several prefixes', async () => {
      const prefixes = [streamB, `${prefix}-nothing`, streamA];
      const { delivered, expected } = await filteredUntilSentinel(
        streamNameFilter({ prefixes }),
        { stream: streamB, type: typeB },
        (event) => prefixes.some((p) => event.streamId.startsWith(p)),
      );
      expect(delivered).toEqual(expected);
      expect(delivered.slice(0, 8)).toEqual(written.map((e) => e.id));
    });

    it('keeps the streams whose names match a regex', async () => {
      const regex = `^${prefix}-(b|z)$`;
      const { delivered, expected } = await filteredUntilSentinel(
        streamNameFilter({ regex }),
        { stream: `${prefix}-z`, type: typeA },
        (event) => new RegExp(regex).test(event.streamId),
      );
      expect(delivered).toEqual(expected);
      expect(delivered.slice(0, 4)).toEqual(written.filter((_, i) => i % 2 === 1).map((e) => e.id));
    });

    it('keeps the events whose types start with a prefix', async () => {
      const { delivered, expected } = await filteredUntilSentinel(
        eventTypeFilter({ prefixes: [typeB] }),
        { stream: `${prefix}-c`, type: typeB },
        (event) => event.type.startsWith(typeB),
      );
      expect(delivered).toEqual(expected);
      expect(delivered.slice(0, 4)).toEqual(written.filter((_, i) => i % 2 === 1).map((e) => e.id));
    });

    it('keeps the events whose types match a regex', async () => {
      const regex = `^${prefix}Type[AC]$`;
      const { delivered, expected } = await filteredUntilSentinel(
        eventTypeFilter({ regex }),
        { stream: `${prefix}-c`, type: `${prefix}TypeC` },
        (event) => new RegExp(regex).test(event.type),
      );
      expect(delivered).toEqual(expected);
      expect(delivered.slice(0, 4)).toEqual(written.filter((_, i) => i % 2 === 0).map((e) => e.id));
    });

    it('excludes system events, which are in $all otherwise', async () => {
      // Stream metadata is itself an event, of type $metadata in the $$ stream: a system event.
      await store.client.setStreamMetadata(streamA, { maxCount: 1_000 });
      const everything = await collect(store.client.readAll());
      const metadataEvents = everything.filter(({ event }) => event!.streamId === `$$${streamA}`);
      expect(metadataEvents.map(({ event }) => event!.type)).toEqual(['$metadata']);

      const { delivered, expected } = await filteredUntilSentinel(
        excludeSystemEvents(),
        { stream: `${prefix}-c`, type: typeA },
        (event) => !event.type.startsWith('$'),
      );
      expect(delivered).toEqual(expected);
      expect(delivered).not.toContain(metadataEvents[0].event!.id);
    });
  });
});
