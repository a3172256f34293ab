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
import type { NewEvent } from '../../src/embedded-eventstore/storage/recorded-event.codec';

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
    const engine = await started();
    await fill(engine, 0);
    await engine.close();
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

    // A log with one byte changed inside what the checkpoint covers: the open finds the damaged record
    // and cuts the log there, as a full scan does.
    writeFileSync(file, good);
    const log = path.join(dir, EVENT_LOG_FILE);
    const bytes = readFileSync(log);
    const size = bytes.length;
    bytes[Math.floor(size / 2)] ^= 0xff;
    writeFileSync(log, bytes);
    reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.resumedFromCheckpoint).toBe(false);
    expect(reopened.truncatedBytes).toBeGreaterThan(0);
    await reopened.close();

    // A log shorter than what the checkpoint covers (another, shorter log in its place).
    writeFileSync(file, good);
    writeFileSync(log, bytes.subarray(0, 16));
    reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.resumedFromCheckpoint).toBe(false);
    expect(reopened.index.count).toBe(0);
    await reopened.close();
  });
});
