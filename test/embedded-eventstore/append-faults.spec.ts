import { EventStoreDBClient, UnknownError, jsonEvent } from '@eventstore/db-client';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../src/embedded-eventstore';
import { EventStoreEngine } from '../../src/embedded-eventstore/engine/event-store.engine';

/**
 * A store that fails an append (a disk error, a bug) must still answer it: the client then fails
 * that append and goes on. Before the fix the BatchAppend error carried no details, the client threw
 * a TypeError out of its stream handler, and the append never settled (the test would time out).
 */
describe('an append the engine fails', () => {
  let store: EmbeddedEventStore;
  let client: EventStoreDBClient;

  beforeAll(async () => {
    const engine = new EventStoreEngine({ memory: true });
    const append = engine.append.bind(engine);
    engine.append = (streamName, expected, events) =>
      streamName.startsWith('failing-')
        ? Promise.reject(new Error('injected: the disk refused the write'))
        : append(streamName, expected, events);
    store = await startEmbeddedEventStore({ port: 0, engine });
    client = EventStoreDBClient.connectionString(store.connectionString);
  });

  afterAll(async () => {
    await client?.dispose();
    await store?.close();
  });

  it('is answered with an error the client understands, and the connection goes on working', async () => {
    const failed = await client
      .appendToStream('failing-1', jsonEvent({ type: 'Tested', data: { n: 1 } }))
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failed).toBeInstanceOf(UnknownError);

    const ok = await client.appendToStream('working-1', jsonEvent({ type: 'Tested', data: { n: 2 } }));
    expect(ok.success).toBe(true);
    expect(ok.nextExpectedRevision).toBe(0n);

    // Nothing of the failed append was written.
    const all = [];
    for await (const resolved of client.readAll()) {
      if (resolved.event && !resolved.event.streamId.startsWith('$')) all.push(resolved.event.streamId);
    }
    expect(all).toEqual(['working-1']);
  });
});
