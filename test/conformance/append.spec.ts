import { randomUUID } from 'node:crypto';
import {
  ANY,
  DeadlineExceededError,
  NO_STREAM,
  STREAM_EXISTS,
  WrongExpectedVersionError,
  type EventData,
} from '@eventstore/db-client';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import { APPEND_PATHS, clientUsesBatchAppend, expectRejection, testEvents } from './conformance.helpers';

describe('appendToStream', () => {
  let store: TestEventStore;

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterAll(async () => {
    await store?.stop();
  });

  async function readIds(stream: string): Promise<string[]> {
    const events = await collect(store.client.readStream(stream));
    return events.map(({ event }) => event!.id);
  }

  it('advertises BatchAppend, so the default path really is BatchAppend', async () => {
    // Real servers list it since 21.10; without it both describe blocks below would test one path.
    expect(await clientUsesBatchAppend(store.client)).toBe(true);
  });

  describe.each(APPEND_PATHS)('over %s', (_path, pathOptions) => {
    const append = (stream: string, events: EventData[], options: Record<string, unknown> = {}) =>
      store.client.appendToStream(stream, events, { ...pathOptions, ...options });

    it('stores JSON and binary events with their ids, types, data and metadata', async () => {
      const stream = uniqueStream('append_roundtrip');
      const json = testEvents(2, 'json');
      const binary: EventData = {
        id: randomUUID(),
        contentType: 'application/octet-stream',
        type: 'BinaryThing',
        data: Uint8Array.from([0, 1, 2, 253, 254, 255]),
        metadata: { $correlationId: 'corr-1', note: 'ünïcødé ✓' },
      };

      const result = await append(stream, [...json, binary]);

      expect(result.success).toBe(true);
      expect(result.nextExpectedRevision).toBe(2n);
      expect(result.position).toBeDefined();
      const read = await collect(store.client.readStream(stream));
      expect(read.map(({ event }) => [event!.revision, event!.id, event!.type, event!.isJson])).toEqual([
        [0n, json[0].id, 'ConformanceTested', true],
        [1n, json[1].id, 'ConformanceTested', true],
        [2n, binary.id, 'BinaryThing', false],
      ]);
      expect(read[0].event!.streamId).toBe(stream);
      // `created` travels as .NET ticks; a wrong epoch or unit lands years away, not an hour.
      expect(Math.abs(read[0].event!.created.getTime() - Date.now())).toBeLessThan(3_600_000);
      expect(read[0].event!.data).toEqual({ index: 0, tag: 'json' });
      expect(read[0].event!.metadata).toBeUndefined();
      expect(Buffer.from(read[2].event!.data as Uint8Array)).toEqual(Buffer.from([0, 1, 2, 253, 254, 255]));
      expect(read[2].event!.metadata).toEqual({ $correlationId: 'corr-1', note: 'ünïcødé ✓' });
    });

    it('round-trips a non-ASCII stream name and an empty binary payload', async () => {
      const stream = uniqueStream('append_ünïcødé_流');
      const empty: EventData = {
        id: randomUUID(),
        contentType: 'application/octet-stream',
        type: 'Empty',
        data: new Uint8Array(0),
        metadata: undefined,
      };

      await append(stream, [empty]);

      const [read] = await collect(store.client.readStream(stream));
      expect(read.event!.streamId).toBe(stream);
      expect(read.event!.id).toBe(empty.id);
      expect((read.event!.data as Uint8Array).byteLength).toBe(0);
      const inAll = (await collect(store.client.readAll())).filter(({ event }) => event!.id === empty.id);
      expect(inAll.map(({ event }) => event!.streamId)).toEqual([stream]);
    });

    it('lets exactly one of 20 racing appends with the same expected revision win', async () => {
      const stream = uniqueStream('append_race');
      await append(stream, testEvents(5));

      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          append(stream, testEvents(2, `racer${i}`), { expectedRevision: 4n }),
        ),
      );

      const winners = outcomes.filter((o) => o.status === 'fulfilled');
      const losers = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(19);
      for (const loser of losers) {
        expect(loser).toBeInstanceOf(WrongExpectedVersionError);
        expect((loser as WrongExpectedVersionError).actualVersion).toBe(6n);
      }
      expect(await readIds(stream)).toHaveLength(7);
    });

    it('gives later appends later positions', async () => {
      const stream = uniqueStream('append_positions');
      const first = await append(stream, testEvents(1));
      const second = await append(stream, testEvents(1));
      expect(second.position!.commit).toBeGreaterThan(first.position!.commit);
    });

    it('fails with DeadlineExceededError when the deadline passes first', async () => {
      // On BatchAppend the deadline travels inside the request, so only the server can enforce it.
      const stream = uniqueStream('append_deadline');
      await expectRejection(append(stream, testEvents(2_000), { deadline: 1 }), DeadlineExceededError);
    });

    describe('expected revision ANY', () => {
      it('creates a stream and appends to an existing one', async () => {
        const stream = uniqueStream('append_any');
        expect((await append(stream, testEvents(2), { expectedRevision: ANY })).nextExpectedRevision).toBe(
          1n,
        );
        expect((await append(stream, testEvents(3), { expectedRevision: ANY })).nextExpectedRevision).toBe(
          4n,
        );
      });
    });

    describe('expected revision NO_STREAM', () => {
      it('creates the stream', async () => {
        const stream = uniqueStream('append_nostream_ok');
        const result = await append(stream, testEvents(3), { expectedRevision: NO_STREAM });
        expect(result.nextExpectedRevision).toBe(2n);
      });

      it('refuses when the stream exists, with the actual revision', async () => {
        const stream = uniqueStream('append_nostream_fail');
        await append(stream, testEvents(3));

        const error = await expectRejection(
          append(stream, testEvents(1), { expectedRevision: NO_STREAM }),
          WrongExpectedVersionError,
        );

        expect(error.streamName).toBe(stream);
        expect(error.expectedVersion).toBe(NO_STREAM);
        expect(error.actualVersion).toBe(2n);
        expect(await readIds(stream)).toHaveLength(3);
      });
    });

    describe('expected revision STREAM_EXISTS', () => {
      it('appends to an existing stream', async () => {
        const stream = uniqueStream('append_exists_ok');
        await append(stream, testEvents(1));
        const result = await append(stream, testEvents(2), { expectedRevision: STREAM_EXISTS });
        expect(result.nextExpectedRevision).toBe(2n);
      });

      it('refuses when the stream does not exist, and creates nothing', async () => {
        const stream = uniqueStream('append_exists_fail');

        const error = await expectRejection(
          append(stream, testEvents(1), { expectedRevision: STREAM_EXISTS }),
          WrongExpectedVersionError,
        );

        expect(error.streamName).toBe(stream);
        expect(error.expectedVersion).toBe(STREAM_EXISTS);
        expect(error.actualVersion).toBe(NO_STREAM);
        await expect(append(stream, testEvents(1), { expectedRevision: NO_STREAM })).resolves.toMatchObject({
          nextExpectedRevision: 0n,
        });
      });
    });

    describe('exact expected revision', () => {
      it('appends when the stream is at that revision', async () => {
        const stream = uniqueStream('append_exact_ok');
        const first = await append(stream, testEvents(2));
        const second = await append(stream, testEvents(2), { expectedRevision: first.nextExpectedRevision });
        expect(second.nextExpectedRevision).toBe(3n);
      });

      it('refuses a stale revision with both revisions and writes nothing', async () => {
        const stream = uniqueStream('append_exact_stale');
        await append(stream, testEvents(4));

        const error = await expectRejection(
          append(stream, testEvents(2), { expectedRevision: 1n }),
          WrongExpectedVersionError,
        );

        expect(error.streamName).toBe(stream);
        expect(error.expectedVersion).toBe(1n);
        expect(error.actualVersion).toBe(3n);
        expect(await readIds(stream)).toHaveLength(4);
      });

      it('refuses a revision ahead of the stream', async () => {
        const stream = uniqueStream('append_exact_ahead');
        await append(stream, testEvents(1));

        const error = await expectRejection(
          append(stream, testEvents(1), { expectedRevision: 5n }),
          WrongExpectedVersionError,
        );

        expect(error.expectedVersion).toBe(5n);
        expect(error.actualVersion).toBe(0n);
      });

      it('refuses a revision on a stream that does not exist', async () => {
        const stream = uniqueStream('append_exact_missing');

        const error = await expectRejection(
          append(stream, testEvents(1), { expectedRevision: 0n }),
          WrongExpectedVersionError,
        );

        expect(error.streamName).toBe(stream);
        expect(error.expectedVersion).toBe(0n);
        expect(error.actualVersion).toBe(NO_STREAM);
      });
    });

    describe('re-appending the same event ids', () => {
      it('is idempotent with NO_STREAM, an exact revision, and ANY', async () => {
        const stream = uniqueStream('append_idempotent');
        const firstBatch = testEvents(3, 'first');
        const secondBatch = testEvents(2, 'second');

        expect((await append(stream, firstBatch, { expectedRevision: NO_STREAM })).nextExpectedRevision).toBe(
          2n,
        );
        expect((await append(stream, firstBatch, { expectedRevision: NO_STREAM })).nextExpectedRevision).toBe(
          2n,
        );

        expect((await append(stream, secondBatch, { expectedRevision: 2n })).nextExpectedRevision).toBe(4n);
        expect((await append(stream, secondBatch, { expectedRevision: 2n })).nextExpectedRevision).toBe(4n);
        expect((await append(stream, secondBatch, { expectedRevision: ANY })).nextExpectedRevision).toBe(4n);

        expect(await readIds(stream)).toEqual([...firstBatch, ...secondBatch].map((e) => e.id));
      });

      it('stays idempotent for an earlier batch retried with its original expected revision', async () => {
        // EventStoreDB compares the ids at expected+1.. with the retried ones, however far the stream moved on.
        const stream = uniqueStream('append_idempotent_late');
        const firstBatch = testEvents(3, 'first');
        await append(stream, firstBatch, { expectedRevision: NO_STREAM });
        await append(stream, testEvents(2, 'later'), { expectedRevision: 2n });

        const retried = await append(stream, firstBatch, { expectedRevision: NO_STREAM });

        expect(retried.nextExpectedRevision).toBe(2n);
        expect(await readIds(stream)).toHaveLength(5);
      });

      it('refuses a retry whose ids only partly match what is stored', async () => {
        const stream = uniqueStream('append_idempotent_partial');
        const firstBatch = testEvents(3, 'first');
        await append(stream, firstBatch, { expectedRevision: NO_STREAM });

        const error = await expectRejection(
          append(stream, [firstBatch[0], firstBatch[1], ...testEvents(1, 'new')], {
            expectedRevision: NO_STREAM,
          }),
          WrongExpectedVersionError,
        );

        expect(error.actualVersion).toBe(2n);
        expect(await readIds(stream)).toEqual(firstBatch.map((e) => e.id));
      });
    });
  });
});
