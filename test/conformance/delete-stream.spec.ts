import {
  ANY,
  NO_STREAM,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import { APPEND_PATHS, expectRejection, testEvents } from './conformance.helpers';

describe('deleting streams', () => {
  let store: TestEventStore;

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterAll(async () => {
    await store?.stop();
  });

  const read = (stream: string) => collect(store.client.readStream(stream));

  describe('deleteStream (soft delete)', () => {
    it('makes the stream read as not found', async () => {
      const stream = uniqueStream('delete_soft');
      await store.client.appendToStream(stream, testEvents(3));

      await store.client.deleteStream(stream);

      const error = await expectRejection(read(stream), StreamNotFoundError);
      expect(error.streamName).toBe(stream);
    });

    it('leaves the deleted events in $all, where only a scavenge would remove them', async () => {
      const stream = uniqueStream('delete_in_all');
      const events = testEvents(2);
      await store.client.appendToStream(stream, events);
      await store.client.deleteStream(stream);

      const inAll = (await collect(store.client.readAll())).filter(({ event }) => event!.streamId === stream);
      expect(inAll.map(({ event }) => event!.id)).toEqual(events.map((e) => e.id));
    });

    it('lets the stream be recreated, continuing its revisions', async () => {
      const stream = uniqueStream('delete_recreate');
      await store.client.appendToStream(stream, testEvents(3));
      await store.client.deleteStream(stream, { expectedRevision: 2n });

      const again = testEvents(2, 'again');
      const result = await store.client.appendToStream(stream, again, { expectedRevision: ANY });

      expect(result.nextExpectedRevision).toBe(4n);
      const events = await read(stream);
      expect(events.map(({ event }) => [event!.revision, event!.id])).toEqual([
        [3n, again[0].id],
        [4n, again[1].id],
      ]);
    });

    it('lets NO_STREAM recreate a soft-deleted stream', async () => {
      const stream = uniqueStream('delete_recreate_nostream');
      await store.client.appendToStream(stream, testEvents(2));
      await store.client.deleteStream(stream);

      const result = await store.client.appendToStream(stream, testEvents(1), {
        expectedRevision: NO_STREAM,
      });

      expect(result.nextExpectedRevision).toBe(2n);
      expect((await read(stream)).map(({ event }) => event!.revision)).toEqual([2n]);
    });

    it('refuses STREAM_EXISTS on a soft-deleted stream as deleted', async () => {
      const stream = uniqueStream('delete_exists');
      await store.client.appendToStream(stream, testEvents(2));
      await store.client.deleteStream(stream);

      const error = await expectRejection(
        store.client.appendToStream(stream, testEvents(1), { expectedRevision: STREAM_EXISTS }),
        StreamDeletedError,
      );

      expect(error.streamName).toBe(stream);
    });

    it('refuses a wrong expected revision and leaves the stream alone', async () => {
      const stream = uniqueStream('delete_wrong_rev');
      await store.client.appendToStream(stream, testEvents(3));

      const error = await expectRejection(
        store.client.deleteStream(stream, { expectedRevision: 7n }),
        WrongExpectedVersionError,
      );

      expect(error.streamName).toBe(stream);
      expect(error.expectedVersion).toBe(7n);
      expect(error.actualVersion).toBe(2n);
      expect(await read(stream)).toHaveLength(3);
    });

    it('refuses NO_STREAM on a stream that exists', async () => {
      const stream = uniqueStream('delete_nostream');
      await store.client.appendToStream(stream, testEvents(1));

      const error = await expectRejection(
        store.client.deleteStream(stream, { expectedRevision: NO_STREAM }),
        WrongExpectedVersionError,
      );

      expect(error.streamName).toBe(stream);
      expect(await read(stream)).toHaveLength(1);
    });
  });

  describe('tombstoneStream (hard delete)', () => {
    it('makes reads fail with StreamDeletedError', async () => {
      const stream = uniqueStream('tombstone_read');
      await store.client.appendToStream(stream, testEvents(2));

      await store.client.tombstoneStream(stream);

      const error = await expectRejection(read(stream), StreamDeletedError);
      expect(error.streamName).toBe(stream);
    });

    it.each(APPEND_PATHS)(
      'makes appends over %s fail with StreamDeletedError',
      async (_path, pathOptions) => {
        const stream = uniqueStream('tombstone_append');
        await store.client.appendToStream(stream, testEvents(2));
        await store.client.tombstoneStream(stream);

        const error = await expectRejection(
          store.client.appendToStream(stream, testEvents(1), { ...pathOptions }),
          StreamDeletedError,
        );

        expect(error.streamName).toBe(stream);
      },
    );

    it('refuses a wrong expected revision and leaves the stream alone', async () => {
      const stream = uniqueStream('tombstone_wrong_rev');
      await store.client.appendToStream(stream, testEvents(3));

      const error = await expectRejection(
        store.client.tombstoneStream(stream, { expectedRevision: 1n }),
        WrongExpectedVersionError,
      );

      expect(error.streamName).toBe(stream);
      expect(error.expectedVersion).toBe(1n);
      expect(error.actualVersion).toBe(2n);
      expect(await read(stream)).toHaveLength(3);
    });

    it('tombstones a stream that never existed, with NO_STREAM', async () => {
      const stream = uniqueStream('tombstone_never');
      await store.client.tombstoneStream(stream, { expectedRevision: NO_STREAM });
      await expectRejection(read(stream), StreamDeletedError);
    });

    it('makes deleting it again fail with StreamDeletedError', async () => {
      const stream = uniqueStream('tombstone_twice');
      await store.client.appendToStream(stream, testEvents(1));
      await store.client.tombstoneStream(stream);

      await expectRejection(store.client.deleteStream(stream), StreamDeletedError);
    });
  });
});
