import { fdatasync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient, jsonEvent, StreamNotFoundError } from '@eventstore/db-client';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../src/embedded-eventstore';
import { EventStoreEngine } from '../../src/embedded-eventstore/engine/event-store.engine';

/**
 * SPEC §5: an append is acknowledged only once its bytes are fsync'd. The kill -9 tests cannot see
 * this (a killed process keeps what reached the page cache), so here the log's own sync is held
 * open, and the append, sent through the real client over gRPC, must stay unanswered and unreadable
 * until the sync returns. An ack straight after the write, or one sent before the sync in the
 * background, fails it.
 */
describe('an append waits for the log file sync', () => {
  let dir: string;
  let store: EmbeddedEventStore;
  let client: EventStoreDBClient;
  let holding = false;
  let held: { fd: number; callback: (error: NodeJS.ErrnoException | null) => void }[] = [];
  let syncCalled: () => void = () => undefined;

  const release = () => {
    holding = false;
    const waiting = held;
    held = [];
    for (const { fd, callback } of waiting) fdatasync(fd, callback);
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'subledger-ack-fsync-'));
    const engine = new EventStoreEngine({
      dataDir: dir,
      sync: (fd, callback) => {
        syncCalled();
        if (holding) held.push({ fd, callback });
        else fdatasync(fd, callback);
      },
    });
    store = await startEmbeddedEventStore({ port: 0, engine });
    client = EventStoreDBClient.connectionString(store.connectionString);
  });

  afterAll(async () => {
    release();
    await client?.dispose();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Resolves once a read of `stream` through the same connection has been answered: a round trip. */
  const readTypes = async (stream: string): Promise<string[] | 'not found'> => {
    try {
      const types: string[] = [];
      for await (const resolved of client.readStream(stream)) types.push(resolved.event!.type);
      return types;
    } catch (error) {
      if (error instanceof StreamNotFoundError) return 'not found';
      throw error;
    }
  };

  it('answers nothing, and shows nothing, until the sync returns', async () => {
    // A first append, not held, so the connection and the BatchAppend stream are already open.
    await client.appendToStream('warm-up', jsonEvent({ type: 'Tested', data: { n: 0 } }));

    holding = true;
    const synced = new Promise<'synced'>((resolve) => {
      syncCalled = () => resolve('synced');
    });
    let answered = false;
    const appending = client
      .appendToStream('held', jsonEvent({ type: 'Tested', data: { n: 1 } }))
      .finally(() => {
        answered = true;
      });

    // The record reached the sync, and was not answered on the way.
    expect(await Promise.race([synced, appending.then(() => 'answered before any sync')])).toBe('synced');
    // Round trips on the same connection: an answer sent before them would have arrived by now.
    expect(await readTypes('held')).toBe('not found');
    expect(await readTypes('warm-up')).toEqual(['Tested']);
    expect(answered).toBe(false);
    expect(held).toHaveLength(1);

    release();
    const result = await appending;
    expect(result.success).toBe(true);
    expect(result.nextExpectedRevision).toBe(0n);
    expect(await readTypes('held')).toEqual(['Tested']);
  });
});
