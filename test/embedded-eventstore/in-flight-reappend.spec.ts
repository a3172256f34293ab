import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ANY, NO_STREAM, jsonEvent } from '@eventstore/db-client';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';

/**
 * EventStoreDB's idempotent re-append must also hold while the first append is still on its way to
 * the disk: the store then reads the ids of in-flight events from the record being written, not
 * from the log. A client sends its appends on one BatchAppend stream, so appends issued together
 * are decided together, before the first group commit's fsync returns.
 */
describe('re-append of events whose first append is not durable yet', () => {
  let dataDir: string;
  let store: TestEventStore;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'inflight-reappend-'));
    store = await startTestEventStore({ dataDir });
  });

  afterAll(async () => {
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers every repeat, exact or any, with the first append and writes the events once', async () => {
    for (let round = 0; round < 5; round++) {
      const stream = uniqueStream('inflight_reappend');
      const events = Array.from({ length: 3 }, (_, index) =>
        jsonEvent({ type: 'InFlightTested', data: { index, round } }),
      );
      const results = await Promise.all([
        store.client.appendToStream(stream, events, { expectedRevision: NO_STREAM }),
        ...Array.from({ length: 3 }, () =>
          store.client.appendToStream(stream, events, { expectedRevision: NO_STREAM }),
        ),
        ...Array.from({ length: 3 }, () =>
          store.client.appendToStream(stream, events, { expectedRevision: ANY }),
        ),
      ]);
      for (const result of results) {
        expect(result.success).toBe(true);
        expect(result.nextExpectedRevision).toBe(2n);
        expect(result.position).toEqual(results[0].position);
      }
      const stored = await collect(store.client.readStream(stream));
      expect(stored.map(({ event }) => event!.id)).toEqual(events.map((event) => event.id));
    }
  });
});
