import { once } from 'node:events';
import {
  ANY,
  END,
  START,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type Position,
  type ResolvedEvent,
  type StreamSubscription,
} from '@eventstore/db-client';
import {
  collect,
  startTestEventStore,
  uniquePrefix,
  uniqueStream,
  type TestEventStore,
} from '../support/event-store';
import { comparePositions, expectStrictlyIncreasing, receiveUntil, testEvents } from './conformance.helpers';

describe('catch-up subscriptions', () => {
  let store: TestEventStore;
  const open: Array<StreamSubscription | AllStreamSubscription> = [];

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.unsubscribe()));
  });

  afterAll(async () => {
    await store?.stop();
  });

  function track<S extends StreamSubscription | AllStreamSubscription>(subscription: S): S {
    open.push(subscription);
    return subscription;
  }

  const idsOf = (events: ReadonlyArray<ResolvedEvent | AllStreamResolvedEvent>) =>
    events.map((e) => e.event!.id);
  const hasId = (id: string) => (events: ReadonlyArray<ResolvedEvent | AllStreamResolvedEvent>) =>
    events.some((e) => e.event?.id === id);

  describe('subscribeToStream', () => {
    it('from START delivers the past, then live events, in revision order', async () => {
      const stream = uniqueStream('sub_stream_start');
      const past = testEvents(3);
      const live = testEvents(2);
      await store.client.appendToStream(stream, past);

      const subscription = track(store.client.subscribeToStream(stream, { fromRevision: START }));
      const { finished } = receiveUntil(subscription, hasId(live[1].id));
      await store.client.appendToStream(uniqueStream('sub_stream_other'), testEvents(2));
      await store.client.appendToStream(stream, live);

      const received = await finished;
      expect(idsOf(received)).toEqual([...past, ...live].map((e) => e.id));
      expect(received.map((e) => e.event!.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
    });

    it('from a revision starts after it', async () => {
      const stream = uniqueStream('sub_stream_rev');
      const events = testEvents(6);
      await store.client.appendToStream(stream, events.slice(0, 4));

      const subscription = track(store.client.subscribeToStream(stream, { fromRevision: 1n }));
      const { finished } = receiveUntil(subscription, hasId(events[5].id));
      await store.client.appendToStream(stream, events.slice(4));

      expect((await finished).map((e) => e.event!.revision)).toEqual([2n, 3n, 4n, 5n]);
    });

    it('from END delivers only what is appended after it started', async () => {
      const stream = uniqueStream('sub_stream_end');
      await store.client.appendToStream(stream, testEvents(3));

      const subscription = track(store.client.subscribeToStream(stream, { fromRevision: END }));
      await once(subscription, 'confirmation');
      const live = testEvents(2);
      const { finished } = receiveUntil(subscription, hasId(live[1].id));
      await store.client.appendToStream(stream, live);

      const received = await finished;
      expect(idsOf(received)).toEqual(live.map((e) => e.id));
      expect(received.map((e) => e.event!.revision)).toEqual([3n, 4n]);
    });

    it('delivers a long history in order to a consumer slower than the server', async () => {
      const stream = uniqueStream('sub_stream_slow');
      const events = testEvents(3_000, 'slow');
      for (let i = 0; i < events.length; i += 500) {
        await store.client.appendToStream(stream, events.slice(i, i + 500));
      }

      const subscription = track(store.client.subscribeToStream(stream, { fromRevision: START }));
      const revisions: bigint[] = [];
      // Pulling one event per macrotask makes the client's buffer fill, so the server must hold back
      // rather than drop or reorder.
      for await (const resolved of subscription) {
        revisions.push(resolved.event!.revision);
        await new Promise((resolve) => setImmediate(resolve));
        if (revisions.length === events.length) break;
      }
      expect(revisions).toEqual(events.map((_, i) => BigInt(i)));
    });

    it('waits for a stream that does not exist yet', async () => {
      const stream = uniqueStream('sub_stream_later');
      const subscription = track(store.client.subscribeToStream(stream, { fromRevision: START }));
      await once(subscription, 'confirmation');
      const events = testEvents(2);
      const { finished } = receiveUntil(subscription, hasId(events[1].id));
      await store.client.appendToStream(stream, events);
      expect(idsOf(await finished)).toEqual(events.map((e) => e.id));
    });
  });

  describe('subscribeToAll', () => {
    it('from START delivers the past, then live events, in commit order', async () => {
      const prefix = uniquePrefix('sub_all_start');
      const past = testEvents(3);
      const live = testEvents(3);
      await store.client.appendToStream(`${prefix}-a`, past);

      const subscription = track(store.client.subscribeToAll({ fromPosition: START }));
      const { finished } = receiveUntil(subscription, hasId(live[2].id));
      await store.client.appendToStream(`${prefix}-b`, live.slice(0, 1));
      await store.client.appendToStream(`${prefix}-a`, live.slice(1));

      const received = await finished;
      const ours = received.filter((e) => e.event?.streamId.startsWith(`${prefix}-`));
      expect(idsOf(ours)).toEqual([...past, ...live].map((e) => e.id));
      expectStrictlyIncreasing(
        received.map((e) => e.event!.position.commit),
        'subscription commit positions',
      );
    });

    it('from a position starts after it', async () => {
      const prefix = uniquePrefix('sub_all_pos');
      const events = testEvents(5);
      await store.client.appendToStream(`${prefix}-a`, events.slice(0, 3));
      const positions = (await collect(store.client.readAll()))
        .filter((e) => e.event!.streamId.startsWith(`${prefix}-`))
        .map((e) => e.event!.position);

      const subscription = track(
        store.client.subscribeToAll({
          fromPosition: positions[1],
          filter: streamNameFilter({ prefixes: [`${prefix}-`] }),
        }),
      );
      const { finished } = receiveUntil(subscription, hasId(events[4].id));
      await store.client.appendToStream(`${prefix}-a`, events.slice(3));

      expect(idsOf(await finished)).toEqual(events.slice(2).map((e) => e.id));
    });

    it('from END delivers only what is appended after it started', async () => {
      const prefix = uniquePrefix('sub_all_end');
      await store.client.appendToStream(`${prefix}-a`, testEvents(3));

      const subscription = track(store.client.subscribeToAll({ fromPosition: END }));
      await once(subscription, 'confirmation');
      const live = testEvents(2);
      const { finished } = receiveUntil(subscription, hasId(live[1].id));
      await store.client.appendToStream(`${prefix}-a`, live);

      const ours = (await finished).filter((e) => e.event?.streamId.startsWith(`${prefix}-`));
      expect(idsOf(ours)).toEqual(live.map((e) => e.id));
    });

    it('sends checkpoints at the interval while the filter matches nothing', async () => {
      const prefix = uniquePrefix('sub_all_ckpt');
      const noise = uniqueStream('sub_all_noise');
      await store.client.appendToStream(noise, testEvents(100));

      const checkpoints: Position[] = [];
      let checkpointPassed: (position: Position) => void = () => undefined;
      const subscription = track(
        store.client.subscribeToAll({
          fromPosition: START,
          filter: streamNameFilter({
            prefixes: [`${prefix}-`],
            checkpointInterval: 1,
            checkpointReached: (_subscription, position) => {
              checkpoints.push(position);
              checkpointPassed(position);
            },
          }),
        }),
      );
      const matching = testEvents(1);
      const { finished, received } = receiveUntil(subscription, hasId(matching[0].id));
      await once(subscription, 'confirmation');

      const firstLiveNoise = await store.client.appendToStream(noise, testEvents(10));
      const reachedLiveNoise = new Promise<void>((resolve) => {
        checkpointPassed = (position) => {
          if (position.commit >= firstLiveNoise.position!.commit) resolve();
        };
      });
      for (let i = 0; i < 19; i++) await store.client.appendToStream(noise, testEvents(10));
      await reachedLiveNoise;
      expect(received).toEqual([]);

      const checkpointsBeforeMatch = checkpoints.length;
      await store.client.appendToStream(`${prefix}-a`, matching);
      const [event] = await finished;
      expect(event.event!.id).toBe(matching[0].id);
      for (const checkpoint of checkpoints.slice(0, checkpointsBeforeMatch)) {
        expect(comparePositions(checkpoint, event.event!.position)).toBeLessThanOrEqual(0);
      }
      expectStrictlyIncreasing(
        checkpoints.map((p) => p.commit).filter((c, i, all) => i === 0 || c !== all[i - 1]),
        'distinct checkpoint commit positions',
      );
    });
  });

  describe('while 20 writers race', () => {
    const WRITERS = 20;
    const APPENDS_PER_WRITER = 12;

    it('delivers every acknowledged event exactly once, in commit order, with no gap', async () => {
      const prefix = uniquePrefix('sub_race');
      const shared = `${prefix}-shared`;
      const allFilter = () => streamNameFilter({ prefixes: [`${prefix}-`] });
      const before = [testEvents(20, 'before'), testEvents(20, 'before')];
      await store.client.appendToStream(shared, before[0]);
      await store.client.appendToStream(`${prefix}-w0`, before[1]);

      const acked: string[] = [];
      let halfway: () => void = () => undefined;
      const halfwayReached = new Promise<void>((resolve) => (halfway = resolve));
      const sentinel = testEvents(1, 'sentinel');
      const untilSentinel = hasId(sentinel[0].id);

      // One subscription of each kind is already live when the writers start, one joins mid-race
      // and has to hand over from catch-up to live while appends keep landing.
      const early = receiveUntil(
        track(store.client.subscribeToAll({ fromPosition: START, filter: allFilter() })),
        untilSentinel,
      );
      const onStream = receiveUntil(
        track(store.client.subscribeToStream(shared, { fromRevision: START })),
        untilSentinel,
      );

      const writers = Array.from({ length: WRITERS }, async (_, w) => {
        for (let k = 0; k < APPENDS_PER_WRITER; k++) {
          const events = testEvents(1 + ((w + k) % 3), `w${w}k${k}`);
          const target = k % 2 === 0 ? shared : `${prefix}-w${w}`;
          await store.client.appendToStream(target, events, { expectedRevision: ANY });
          acked.push(...events.map((e) => e.id));
          if (acked.length >= (WRITERS * APPENDS_PER_WRITER) / 2) halfway();
        }
      });
      await halfwayReached;
      const late = receiveUntil(
        track(store.client.subscribeToAll({ fromPosition: START, filter: allFilter() })),
        untilSentinel,
      );
      await Promise.all(writers);
      await store.client.appendToStream(shared, sentinel);

      const [earlyEvents, lateEvents, streamEvents] = await Promise.all([
        early.finished,
        late.finished,
        onStream.finished,
      ]);

      const committed = (await collect(store.client.readAll())).filter((e) =>
        e.event!.streamId.startsWith(`${prefix}-`),
      );
      const expectedIds = [...before.flat().map((e) => e.id), ...acked, sentinel[0].id];
      expect(committed.length).toBe(expectedIds.length);
      expect(new Set(idsOf(committed))).toEqual(new Set(expectedIds));
      for (const [name, delivered] of [
        ['early $all', earlyEvents],
        ['late $all', lateEvents],
      ] as const) {
        expect({ name, ids: idsOf(delivered) }).toEqual({ name, ids: idsOf(committed) });
        expectStrictlyIncreasing(
          delivered.map((e) => e.event!.position.commit),
          `${name} commit positions`,
        );
      }

      const sharedCommitted = await collect(store.client.readStream(shared));
      expect(idsOf(streamEvents)).toEqual(idsOf(sharedCommitted));
      expect(streamEvents.map((e) => e.event!.revision)).toEqual(sharedCommitted.map((_, i) => BigInt(i)));
    });
  });
});
