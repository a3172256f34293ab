import { CommandProcessor, type Decider, type DomainEvent } from '../../src/event-store/command-processing';
import { toProblem } from '../../src/http/error-problem';
import { startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';

type Blob = DomainEvent<'BlobWritten', { text: string }>;

/** One command, one event of `bytes` characters: as big as the caller asks. */
const blobs: Decider<{ count: number }, { bytes: number }, Blob, null> = {
  initialState: () => ({ count: 0 }),
  evolve: (state) => ({ count: state.count + 1 }),
  decide: (command) => ({
    events: [{ type: 'BlobWritten', data: { text: 'x'.repeat(command.bytes) } }],
    result: null,
  }),
};

/**
 * An append the store refuses for its size (EventStoreDB's MaxAppendSize, 1 MiB of data) reaches
 * the caller as what it is: 422 append_too_large naming the limit, nothing recorded. It used to be
 * `event_store_unavailable` (503, "retry shortly"), which sent clients retrying for ever.
 */
describe("an append over the store's maximum size", () => {
  let store: TestEventStore;

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterAll(async () => {
    await store.stop();
  });

  it('fails its command with append_too_large (422), and the stream takes the next one', async () => {
    const processor = new CommandProcessor({ client: store.client, decider: blobs });
    const stream = uniqueStream('blob');
    try {
      const refused = await processor.execute(stream, { bytes: 1_100_000 }).catch((error: unknown) => error);
      expect(toProblem(refused, { method: 'POST', url: '/x' })).toMatchObject({
        status: 422,
        code: 'append_too_large',
        maxAppendSize: 1_048_576,
      });
      const accepted = await processor.execute(stream, { bytes: 10 });
      expect(accepted.streamRevision).toBe(0n);
    } finally {
      await processor.close();
    }
  });
});
