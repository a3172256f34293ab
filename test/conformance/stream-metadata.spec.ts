import { BACKWARDS, END, WrongExpectedVersionError } from '@eventstore/db-client';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import { expectRejection, sleep, testEvents } from './conformance.helpers';

describe('stream metadata', () => {
  let store: TestEventStore;

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterAll(async () => {
    await store?.stop();
  });

  const revisions = async (stream: string, backwards = false) =>
    (
      await collect(
        store.client.readStream(stream, backwards ? { direction: BACKWARDS, fromRevision: END } : {}),
      )
    ).map(({ event }) => Number(event!.revision));

  it('round-trips system and custom properties, versioned in the metastream', async () => {
    const stream = uniqueStream('meta_roundtrip');

    const first = await store.client.setStreamMetadata(stream, {
      maxCount: 50,
      owner: 'billing',
      nested: { a: [1] },
    });
    expect(first.nextExpectedRevision).toBe(0n);
    const second = await store.client.setStreamMetadata(stream, { maxAge: 86_400, owner: 'ledger' });
    expect(second.nextExpectedRevision).toBe(1n);

    const result = await store.client.getStreamMetadata(stream);
    expect(result.streamName).toBe(stream);
    // Client 6.2.1 fills metastreamRevision with the read's commit position, which real servers may
    // or may not send on a stream read, so the metastream itself is the place to check revisions.
    // Metastreams carry an implicit $maxCount of 1 in EventStoreDB: only the latest is readable.
    const metastream = await collect(store.client.readStream(`$$${stream}`));
    expect(metastream.map(({ event }) => [event!.revision, event!.type])).toEqual([[1n, '$metadata']]);
    // Each write replaces the whole document; nothing of the first one survives.
    expect(result.metadata).toEqual({ maxAge: 86_400, owner: 'ledger' });
  });

  it('returns no metadata for a stream that never had any', async () => {
    const stream = uniqueStream('meta_none');
    await store.client.appendToStream(stream, testEvents(1));
    const result = await store.client.getStreamMetadata(stream);
    expect(result.streamName).toBe(stream);
    expect(result.metadata).toBeUndefined();
  });

  it('checks the expected revision of the metastream', async () => {
    const stream = uniqueStream('meta_wrong_rev');
    await store.client.setStreamMetadata(stream, { maxCount: 1 });

    const error = await expectRejection(
      store.client.setStreamMetadata(stream, { maxCount: 2 }, { expectedRevision: 5n }),
      WrongExpectedVersionError,
    );

    expect(error.streamName).toBe(`$$${stream}`);
    expect(error.expectedVersion).toBe(5n);
    expect(error.actualVersion).toBe(0n);
  });

  it('$maxCount keeps only the newest events visible', async () => {
    const stream = uniqueStream('meta_maxcount');
    await store.client.appendToStream(stream, testEvents(10));

    await store.client.setStreamMetadata(stream, { maxCount: 3 });

    expect(await revisions(stream)).toEqual([7, 8, 9]);
    expect(await revisions(stream, true)).toEqual([9, 8, 7]);
    await store.client.appendToStream(stream, testEvents(1));
    expect(await revisions(stream)).toEqual([8, 9, 10]);
    // Only a scavenge removes them from $all.
    const inAll = (await collect(store.client.readAll())).filter(({ event }) => event!.streamId === stream);
    expect(inAll).toHaveLength(11);
  });

  it('$tb (truncateBefore) hides the revisions below it', async () => {
    const stream = uniqueStream('meta_tb');
    await store.client.appendToStream(stream, testEvents(6));

    await store.client.setStreamMetadata(stream, { truncateBefore: 4 });

    expect(await revisions(stream)).toEqual([4, 5]);
    expect(await revisions(stream, true)).toEqual([5, 4]);
  });

  it('$maxAge hides events older than it', async () => {
    const fresh = uniqueStream('meta_maxage_fresh');
    const expiring = uniqueStream('meta_maxage_old');
    await store.client.appendToStream(fresh, testEvents(3));
    await store.client.appendToStream(expiring, testEvents(3));
    await store.client.setStreamMetadata(fresh, { maxAge: 3_600 });
    await store.client.setStreamMetadata(expiring, { maxAge: 1 });

    // Not a timing assertion: once the events are certainly older than one second they must be
    // hidden, whatever the speed of the machine.
    await sleep(2_100);
    await store.client.appendToStream(expiring, testEvents(1));

    expect(await revisions(fresh)).toEqual([0, 1, 2]);
    expect(await revisions(expiring)).toEqual([3]);
  });
});
