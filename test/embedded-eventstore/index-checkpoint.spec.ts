import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  EventStoreEngine,
  EXPECTED_ANY,
  EXPECTED_NO_STREAM,
} from '../../src/embedded-eventstore/engine/event-store.engine';
import { EVENT_LOG_FILE } from '../../src/embedded-eventstore/storage/event-log';
import { INDEX_CHECKPOINT_FILE } from '../../src/embedded-eventstore/storage/index-checkpoint';
import { verifyLogInBackground } from '../../src/embedded-eventstore/storage/log-verifier';
import type { NewEvent } from '../../src/embedded-eventstore/storage/recorded-event.codec';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { collect, spawnEmbeddedEventStore } from '../support/event-store';

/*
 * A clean close writes the index as a checkpoint; the next open takes it and scans only the log's tail.
 * Whatever the store holds, an open from the checkpoint must give exactly the index a full scan of the
 * same log gives, and a checkpoint that cannot be trusted must never be used.
 */
describe('the index checkpoint', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'subledger-index-checkpoint-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function event(type: string, data: unknown = { n: 1 }, id: string = randomUUID()): NewEvent {
    return {
      id,
      type,
      contentType: 'application/json',
      data: Buffer.from(JSON.stringify(data)),
      customMetadata: new Uint8Array(0),
    };
  }

  /** Everything the engine answers from its index, in a comparable form. */
  function dump(engine: EventStoreEngine) {
    const index = engine.index;
    const events = [];
    for (let i = 0; i < index.count; i++) {
      events.push([
        index.position(i),
        index.length(i),
        index.streams[index.streamOf(i)].name,
        index.revision(i),
        index.types[index.typeOf(i)],
        index.createdMs(i),
      ]);
    }
    const streams = [...index.streams]
      .map((st) => ({
        name: st.name,
        revisions: Array.from({ length: st.count }, (_, r) => st.at(r)),
        tombstone: st.tombstoneIndex,
        writeMeta: st.writeMeta,
        readMeta: st.readMeta,
        raw: st.rawMetaJson,
        read: engine.streamReadState(st.name).kind,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    return {
      count: index.count,
      durable: engine.durableCount,
      events,
      streams,
      projections: engine.projections.statistics(),
    };
  }

  /** A log with a bit of everything: categories, types, metadata, deletes, projections on and off. */
  async function fill(engine: EventStoreEngine, round: number): Promise<string[]> {
    const ids: string[] = [];
    for (let n = 0; n < 30; n++) {
      const id = randomUUID();
      ids.push(id);
      await engine.append(`order-${n % 7}`, EXPECTED_ANY, [
        event(`Placed${n % 3}`, { n, round }, id),
        event('Paid'),
      ]);
    }
    await engine.append(`$$order-1`, EXPECTED_ANY, [event('$metadata', { $maxCount: 2, custom: round })]);
    await engine.append(`gone-${round}`, EXPECTED_NO_STREAM, [event('X')]);
    await engine.deleteStream(`gone-${round}`, 0);
    await engine.append(`dead-${round}`, EXPECTED_NO_STREAM, [event('Y')]);
    await engine.tombstone(`dead-${round}`, 0);
    await engine.setProjectionEnabled('$by_event_type', round % 2 === 0);
    await engine.append('invoice-1', EXPECTED_ANY, [event('Issued', { round })]);
    return ids;
  }

  async function started(): Promise<EventStoreEngine> {
    const engine = new EventStoreEngine({ dataDir: dir });
    await engine.start({ startStandardProjections: true });
    return engine;
  }

  /** A log filled once and closed cleanly: a checkpoint beside it. */
  async function filledAndClosed(): Promise<void> {
    const engine = await started();
    await fill(engine, 0);
    await engine.close();
  }

  /** The same log opened by a full scan (in a copy of the folder without the checkpoint). */
  function scanned(): EventStoreEngine {
    const copy = mkdtempSync(path.join(tmpdir(), 'subledger-index-scan-'));
    writeFileSync(path.join(copy, EVENT_LOG_FILE), readFileSync(path.join(dir, EVENT_LOG_FILE)));
    const engine = new EventStoreEngine({ dataDir: copy });
    expect(engine.resumedFromCheckpoint).toBe(false);
    return engine;
  }

  it('opens to the index a full scan gives, over several clean closes and a tail written after one', async () => {
    let engine = await started();
    let ids = await fill(engine, 0);
    await engine.close();
    expect(existsSync(path.join(dir, INDEX_CHECKPOINT_FILE))).toBe(true);
    for (let round = 1; round <= 3; round++) {
      engine = new EventStoreEngine({ dataDir: dir });
      expect(engine.resumedFromCheckpoint).toBe(true);
      await expect(engine.verification).resolves.toEqual({ kind: 'intact' });
      const full = scanned();
      expect(dump(engine)).toEqual(dump(full));
      await full.close();
      // A recent id re-appended is recognised (the id window came back too): nothing new is written.
      const count = engine.index.count;
      const again = await engine.append('order-0', EXPECTED_ANY, [
        event('Placed0', { n: 0, round: round - 1 }, ids[0]),
      ]);
      expect(again.kind).toBe('success');
      expect(engine.index.count).toBe(count);
      await engine.start({ startStandardProjections: true });
      ids = await fill(engine, round);
      if (round === 3) break; // no clean close: the checkpoint of round 2 and a tail after it
      await engine.close();
    }
    const reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.resumedFromCheckpoint).toBe(true);
    const full = scanned();
    expect(dump(reopened)).toEqual(dump(full));
    expect(dump(reopened).count).toBe(engine.index.count);
    await Promise.all([reopened.close(), full.close()]);
  });

  it('is not used when it is damaged, or when the log no longer holds what it covers', async () => {
    await filledAndClosed();
    const file = path.join(dir, INDEX_CHECKPOINT_FILE);
    const good = readFileSync(file);

    // One byte of the checkpoint changed: its checksum fails.
    const damaged = Buffer.from(good);
    damaged[damaged.length - 100] ^= 0xff;
    writeFileSync(file, damaged);
    let reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.resumedFromCheckpoint).toBe(false);
    const full = scanned();
    expect(dump(reopened)).toEqual(dump(full));
    await Promise.all([reopened.close(), full.close()]);

    // The last record the checkpoint names changed: the open checks that one itself, and scans the
    // whole log, cutting it there.
    writeFileSync(file, good);
    const log = path.join(dir, EVENT_LOG_FILE);
    const intact = readFileSync(log);
    const lastByte = Buffer.from(intact);
    lastByte[lastByte.length - 1] ^= 0xff;
    writeFileSync(log, lastByte);
    reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.resumedFromCheckpoint).toBe(false);
    expect(reopened.truncatedBytes).toBeGreaterThan(0);
    await reopened.close();

    // A log shorter than what the checkpoint covers (another, shorter log in its place).
    writeFileSync(file, good);
    writeFileSync(log, intact.subarray(0, 16));
    reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.resumedFromCheckpoint).toBe(false);
    expect(reopened.index.count).toBe(0);
    await reopened.close();
  });

  it('finds a record damaged before the checkpoint’s end after the open: appends refused, the next open scans', async () => {
    await filledAndClosed();
    const log = path.join(dir, EVENT_LOG_FILE);
    const bytes = readFileSync(log);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] ^= 0xff;
    writeFileSync(log, bytes);

    const damaged: Error[] = [];
    const reopened = new EventStoreEngine({ dataDir: dir, onLogDamaged: (error) => damaged.push(error) });
    // Opened from the checkpoint (only its last record was read), the damage is found on the thread.
    expect(reopened.resumedFromCheckpoint).toBe(true);
    const result = await reopened.verification;
    expect(result.kind).toBe('damaged');
    const at = (result as { at: number }).at;
    expect(at).toBeLessThanOrEqual(middle);
    expect(at).toBeGreaterThan(middle - 4096);
    expect(damaged).toHaveLength(1);
    expect(damaged[0].message).toContain(`the record at byte ${at} fails its checksum`);
    expect(existsSync(path.join(dir, INDEX_CHECKPOINT_FILE))).toBe(false);
    await expect(reopened.append('order-0', EXPECTED_ANY, [event('Late')])).rejects.toThrow(
      /the record at byte \d+ fails its checksum/,
    );
    await reopened.close();
    // Nothing written at that close either: the next open scans the whole log and cuts it there.
    expect(existsSync(path.join(dir, INDEX_CHECKPOINT_FILE))).toBe(false);
    const scannedAgain = new EventStoreEngine({ dataDir: dir });
    expect(scannedAgain.resumedFromCheckpoint).toBe(false);
    expect(scannedAgain.truncatedBytes).toBe(bytes.length - at);
    await scannedAgain.close();
  });

  it('reports a verification that could not run instead of throwing (a log gone from under it)', async () => {
    const verification = verifyLogInBackground(path.join(dir, 'no-such.log'), 1_000);
    const result = await verification.result;
    expect(result.kind).toBe('failed');
    expect((result as { reason: string }).reason).toContain('ENOENT');
    await verification.stop();
  });

  it('stops its verification when the store closes first', async () => {
    await filledAndClosed();
    const reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.resumedFromCheckpoint).toBe(true);
    await reopened.close();
    // Stopped, or done already: never damage, and the close wrote the checkpoint again.
    expect(['stopped', 'intact']).toContain((await reopened.verification).kind);
    expect(existsSync(path.join(dir, INDEX_CHECKPOINT_FILE))).toBe(true);
  });

  it('ends the server’s process when the verification finds damage; the next start scans the whole log', async () => {
    const written = await spawnEmbeddedEventStore({ dataDir: dir });
    const ids: string[] = [];
    const writer = EventStoreDBClient.connectionString(written.connectionString);
    try {
      for (let n = 0; n < 200; n++) {
        const id = randomUUID();
        ids.push(id);
        await writer.appendToStream(`order-${n % 5}`, jsonEvent({ id, type: 'Placed', data: { n } }));
      }
    } finally {
      await writer.dispose();
    }
    await written.stop();
    expect(existsSync(path.join(dir, INDEX_CHECKPOINT_FILE))).toBe(true);
    const log = path.join(dir, EVENT_LOG_FILE);
    const bytes = readFileSync(log);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(log, bytes);

    // It may end before or after its ready line: either way with code 1, and without the checkpoint.
    const code = await spawnEmbeddedEventStore({ dataDir: dir }).then(
      async (damaged) => {
        await damaged.exited;
        return damaged.child.exitCode;
      },
      (error: Error) => Number(/code (\d+)/.exec(error.message)?.[1]),
    );
    expect(code).toBe(1);
    expect(existsSync(path.join(dir, INDEX_CHECKPOINT_FILE))).toBe(false);

    const scannedStore = await spawnEmbeddedEventStore({ dataDir: dir });
    const reader = EventStoreDBClient.connectionString(scannedStore.connectionString);
    try {
      const events = await collect(reader.readAll({ maxCount: 10_000 }));
      const placed = events.filter((e) => e.event?.type === 'Placed').map((e) => e.event!.id);
      // The full scan cuts the log at the damaged record, as it always has: a prefix is left.
      expect(placed.length).toBeGreaterThan(0);
      expect(placed.length).toBeLessThan(ids.length);
      expect(placed).toEqual(ids.slice(0, placed.length));
    } finally {
      await reader.dispose();
      await scannedStore.stop();
    }
  });
});
