import { jsonEvent } from '@eventstore/db-client';
import { readLogChunks, type LogChunk } from '../../src/projections/log-reading/log-chunks';
import { readLogChunksInThread } from '../../src/projections/log-reading/threaded-log-reader';
import type { LogPosition } from '../../src/projections/projection';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { LedgerWriter } from './ledger-writer';

async function collect(chunks: AsyncIterable<LogChunk>): Promise<LogChunk[]> {
  const all: LogChunk[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

/** Appends `count` usage records to one parent's ledger, with an event of another stream every 7th. */
async function writeLog(store: TestEventStore, parentId: string, count: number): Promise<void> {
  const ledger = new LedgerWriter(store.client, parentId)
    .open('2026-10-01T00:00:00.000Z')
    .purchase(1_000_000, '2026-10-01T00:00:00.000Z')
    .createSubAccount('s', '2026-10-01T00:00:00.000Z')
    .allocate('s', 1_000_000, '2026-10-01T00:00:00.000Z');
  await ledger.flush();
  for (let done = 0; done < count; done += 50) {
    for (let i = 0; i < 50; i++) ledger.use('s', 1, '2026-10-02T10:00:00.000Z', { meter: 'm' });
    await ledger.flush();
    await store.client.appendToStream(`other-${parentId}`, [
      jsonEvent({ type: 'SomethingElse', data: { n: done } }),
    ]);
  }
}

describe('reading the log in chunks, on the runner’s thread or a reader thread of its own', () => {
  let store: TestEventStore;

  beforeAll(async () => {
    store = await startTestEventStore();
    // More than two chunks of 1,000 events, ledger and other streams mixed.
    await writeLog(store, 'pread', 2_400);
  });

  afterAll(async () => {
    await store.stop();
  });

  it('hands over the same chunks from a reader thread as read in place, from the start and from a position', async () => {
    const inPlace = await collect(readLogChunks(store.client, null));
    const threaded = await collect(readLogChunksInThread(store.connectionString, null));
    expect(threaded).toEqual(inPlace);
    const events = inPlace.reduce((sum, chunk) => sum + chunk.events, 0);
    const envelopes = inPlace.flatMap((chunk) => chunk.envelopes);
    // Every usage record and the four opening events are ledger envelopes; the other stream's are only counted.
    expect(envelopes.filter((e) => e.type === 'UsageRecorded')).toHaveLength(2_400);
    expect(events - envelopes.length).toBeGreaterThanOrEqual(48);
    expect(inPlace.at(-1)!.end).toBe(true);
    expect(inPlace.slice(0, -1).every((chunk) => !chunk.end && chunk.events === 1_000)).toBe(true);
    // Positions and dates cross the thread as what they are.
    expect(typeof threaded[0].envelopes[0].commitPosition).toBe('bigint');
    // (jest's Date is another realm's: the tag says what it is.)
    expect(Object.prototype.toString.call(threaded[0].envelopes[0].created)).toBe('[object Date]');

    const middle: LogPosition = inPlace[1].last!;
    const after = await collect(readLogChunksInThread(store.connectionString, middle));
    expect(after).toEqual(await collect(readLogChunks(store.client, middle)));
    // Reading after a position leaves it out.
    expect(after.reduce((sum, chunk) => sum + chunk.events, 0)).toBe(
      events - inPlace[0].events - inPlace[1].events,
    );
  });

  it('carries only the metadata projections read, the same on both paths', async () => {
    const own = await startTestEventStore();
    try {
      const metadata = {
        $correlationId: 'corr-1',
        $causationId: 'cause-1',
        actor: { type: 'parent', id: 'pmeta' },
        requestId: 'req-1',
        schemaVersion: 1,
        recordedAt: '2026-10-01T00:00:00.000Z',
        chain: { prev: '0'.repeat(64), hash: 'a'.repeat(64) },
      };
      await own.client.appendToStream('ledger-pmeta', [
        jsonEvent({ type: 'ParentAccountRenamed', data: { name: 'Renamed' }, metadata }),
        // An event without an actor or ids: its envelope has the same fields, undefined.
        jsonEvent({
          type: 'ParentAccountRenamed',
          data: { name: 'Again' },
          metadata: { recordedAt: metadata.recordedAt },
        }),
      ]);
      for (const chunks of [
        await collect(readLogChunks(own.client, null)),
        await collect(readLogChunksInThread(own.connectionString, null)),
      ]) {
        const [first, second] = chunks.flatMap((chunk) => chunk.envelopes);
        expect(Object.keys(first.metadata).sort()).toEqual([
          '$causationId',
          '$correlationId',
          'actor',
          'recordedAt',
        ]);
        expect(first.metadata).toEqual({
          recordedAt: metadata.recordedAt,
          actor: metadata.actor,
          $correlationId: 'corr-1',
          $causationId: 'cause-1',
        });
        expect(Object.keys(second.metadata).sort()).toEqual(Object.keys(first.metadata).sort());
        expect(second.metadata.actor).toBeUndefined();
        expect(second.recordedAtMs).toBe(Date.parse(metadata.recordedAt));
      }
    } finally {
      await own.stop();
    }
  });

  it('ends the reader thread when its reader stops early, and reading again still works', async () => {
    let taken = 0;
    for await (const chunk of readLogChunksInThread(store.connectionString, null)) {
      taken += chunk.events;
      break;
    }
    expect(taken).toBe(1_000);
    const again = await collect(readLogChunksInThread(store.connectionString, null));
    expect(again.at(-1)!.end).toBe(true);
  });

  it.each([
    ['in place', (stopped: () => boolean) => readLogChunks(store.client, null, stopped)],
    [
      'on a reader thread',
      (stopped: () => boolean) => readLogChunksInThread(store.connectionString, null, stopped),
    ],
  ])('hands on no chunk once told to stop, and ends (%s)', async (_, read) => {
    // Told to stop once it has handed over one chunk: the rest of the page is read unseen.
    const chunks: LogChunk[] = [];
    for await (const chunk of read(() => chunks.length >= 1)) chunks.push(chunk);
    expect(chunks).toHaveLength(1);
    expect(chunks[0].events).toBe(1_000);
  });

  it('fails with the cause when the reader thread cannot read the log', async () => {
    // Nothing listens on this port: the thread's reads are refused, and the reader says so.
    await expect(collect(readLogChunksInThread('esdb://127.0.0.1:1?tls=false', null))).rejects.toThrow(
      /^Reading the log failed: /,
    );
  });
});
