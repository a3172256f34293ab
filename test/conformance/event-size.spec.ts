import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  DeadlineExceededError,
  jsonEvent,
  MaxAppendSizeExceededError,
  StreamNotFoundError,
  type EventData,
} from '@eventstore/db-client';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import { APPEND_PATHS, expectRejection } from './conformance.helpers';

const MiB = 1024 * 1024;

function binaryEventOf(size: number): EventData {
  return {
    id: randomUUID(),
    contentType: 'application/octet-stream',
    type: 'Blob',
    data: randomBytes(size),
    metadata: undefined,
  };
}

const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('event size', () => {
  let store: TestEventStore;

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterAll(async () => {
    await store?.stop();
  });

  describe.each(APPEND_PATHS)('over %s', (_path, pathOptions) => {
    it('round-trips a 1 MiB event byte for byte', async () => {
      // EventStoreDB's default maxAppendSize is exactly 1 MiB and newer versions count the type
      // name and metadata too, so the payload leaves room for them.
      const stream = uniqueStream('size_1mib');
      const event = binaryEventOf(MiB - 1024);

      await store.client.appendToStream(stream, event, { ...pathOptions });

      const [read] = await collect(store.client.readStream(stream));
      expect(read.event!.id).toBe(event.id);
      const data = read.event!.data as Uint8Array;
      expect(data.byteLength).toBe(MiB - 1024);
      expect(digest(data)).toBe(digest(event.data as Uint8Array));
    });

    it('refuses one event above the maximum append size, naming the limit', async () => {
      const stream = uniqueStream('size_too_big');

      const error = await expectRejection(
        store.client.appendToStream(stream, binaryEventOf(2 * MiB), { ...pathOptions }),
        MaxAppendSizeExceededError,
      );

      expect(typeof error.maxAppendSize).toBe('number');
      expect(error.maxAppendSize).toBeGreaterThanOrEqual(MiB - 1024);
      expect(error.maxAppendSize).toBeLessThan(2 * MiB);
      await expectRejection(collect(store.client.readStream(stream)), StreamNotFoundError);
    });

    it('counts data, metadata and type against it the way the version it reports does', async () => {
      // 21.10 through 24.10 count only the data bytes (an operator-precedence slip in the server's
      // Event.SizeOnDisk); 25.0 and later count data + metadata + 2 bytes per type character.
      const stream = uniqueStream('size_rule');
      const { serverVersion } = await (
        store.client as unknown as { capabilities: Promise<{ serverVersion: string }> }
      ).capabilities;
      const major = Number(/^(\d+)\./.exec(serverVersion)?.[1]);
      const event: EventData = { ...binaryEventOf(MiB - 1024), metadata: randomBytes(4 * 1024) };

      const appended = store.client.appendToStream(stream, event, { ...pathOptions });

      if (major >= 25) {
        await expectRejection(appended, MaxAppendSizeExceededError);
        await expectRejection(collect(store.client.readStream(stream)), StreamNotFoundError);
      } else {
        await appended;
        const [read] = await collect(store.client.readStream(stream));
        expect(read.event!.id).toBe(event.id);
      }
    });

    it('refuses a batch whose events together exceed it, writing none of them', async () => {
      const stream = uniqueStream('size_batch_too_big');
      const events = Array.from({ length: 5 }, () => binaryEventOf(300 * 1024));

      await expectRejection(
        store.client.appendToStream(stream, events, { ...pathOptions }),
        MaxAppendSizeExceededError,
      );

      await expectRejection(collect(store.client.readStream(stream)), StreamNotFoundError);
    });
  });

  // BatchAppend only: over Streams.Append the deadline is gRPC's own, and on loopback the client's
  // deadline timer answers DeadlineExceeded before any server reply, so a test there would pass whatever
  // the server did. Over BatchAppend the deadline travels inside the message and only the server acts on it.
  it('answers DeadlineExceeded over BatchAppend before the size check when the deadline has passed', async () => {
    // The client's own streams test: 40,000 small events exceed 1 MiB whichever way they are
    // counted, and a 1 ms deadline has passed by the time the server sees them.
    const stream = uniqueStream('size_deadline');
    const events = Array.from({ length: 40_000 }, (_, index) =>
      jsonEvent({ type: 'test', data: { message: 'test', index } }),
    );

    await expectRejection(
      store.client.appendToStream(stream, events, { deadline: 1 }),
      DeadlineExceededError,
    );

    await expectRejection(collect(store.client.readStream(stream)), StreamNotFoundError);
  });
});
