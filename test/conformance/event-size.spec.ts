import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { MaxAppendSizeExceededError, StreamNotFoundError, type EventData } from '@eventstore/db-client';
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
});
