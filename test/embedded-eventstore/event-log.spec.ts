import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import {
  EVENT_LOG_FILE,
  FileEventLog,
  frameRecord,
  LOG_MAGIC,
} from '../../src/embedded-eventstore/storage/event-log';
import {
  EventStoreEngine,
  EXPECTED_ANY,
  EXPECTED_NO_STREAM,
} from '../../src/embedded-eventstore/engine/event-store.engine';
import { INDEX_CHECKPOINT_FILE } from '../../src/embedded-eventstore/storage/index-checkpoint';
import { NewEvent, parseRecordedEvent } from '../../src/embedded-eventstore/storage/recorded-event.codec';

function event(type = 'Tested', data: unknown = { n: 1 }): NewEvent {
  return {
    id: randomUUID(),
    type,
    contentType: 'application/json',
    data: Buffer.from(JSON.stringify(data)),
    customMetadata: new Uint8Array(0),
  };
}

function readEvents(
  engine: EventStoreEngine,
  stream: string,
): { type: string; revision: number; position: number }[] {
  const state = engine.streamReadState(stream);
  if (state.kind !== 'ok') return [];
  const out = [];
  for (let r = state.first; r < state.end; r++) {
    const i = state.stream.at(r);
    const pb = engine.entry(i);
    const e = parseRecordedEvent(pb, 0, pb.length);
    out.push({ type: e.type, revision: e.revision, position: engine.index.position(i) });
  }
  return out;
}

describe('event log on disk', () => {
  let dir: string;
  let logFile: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'es-log-'));
    logFile = path.join(dir, EVENT_LOG_FILE);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a new log with the magic header only', async () => {
    const engine = new EventStoreEngine({ dataDir: dir });
    await engine.close();
    expect(readFileSync(logFile)).toEqual(LOG_MAGIC);
  });

  it('frames a record as length, crc32 and body, one record per append', async () => {
    const engine = new EventStoreEngine({ dataDir: dir });
    await engine.append('a-1', EXPECTED_NO_STREAM, [event(), event()]);
    await engine.close();
    const bytes = readFileSync(logFile);
    const bodyLength = bytes.readUInt32LE(LOG_MAGIC.length);
    expect(LOG_MAGIC.length + 8 + bodyLength).toBe(bytes.length);
    const body = bytes.subarray(LOG_MAGIC.length + 8);
    expect(bytes.readUInt32LE(LOG_MAGIC.length + 4)).toBe(crc32(body));
    expect(body.readUInt32LE(1)).toBe(2);
  });

  it('keeps events, revisions and positions across a restart', async () => {
    const first = new EventStoreEngine({ dataDir: dir });
    const a = await first.append('a-1', EXPECTED_NO_STREAM, [event('A'), event('B')]);
    const b = await first.append('b-1', EXPECTED_ANY, [event('C')]);
    const before = readEvents(first, 'a-1');
    await first.close();

    const second = new EventStoreEngine({ dataDir: dir });
    expect(readEvents(second, 'a-1')).toEqual(before);
    expect(readEvents(second, 'b-1').map((e) => e.type)).toEqual(['C']);
    expect(a.kind === 'success' && b.kind === 'success' && a.position < b.position).toBe(true);
    const c = await second.append('a-1', 1, [event('D')]);
    expect(c).toMatchObject({ kind: 'success', revision: 2 });
    if (c.kind === 'success' && b.kind === 'success') expect(c.position).toBeGreaterThan(b.position);
    await second.close();
  });

  it('cuts a torn tail (a record cut short) and keeps every whole record', async () => {
    const engine = new EventStoreEngine({ dataDir: dir });
    await engine.append('a-1', EXPECTED_NO_STREAM, [event('A')]);
    await engine.close();
    const goodSize = statSync(logFile).size;
    const torn = frameRecord([Buffer.from('partial entry bytes')]);
    appendFileSync(logFile, torn.subarray(0, torn.length - 3));

    const reopened = new EventStoreEngine({ dataDir: dir });
    expect(reopened.truncatedBytes).toBe(torn.length - 3);
    expect(statSync(logFile).size).toBe(goodSize);
    expect(readEvents(reopened, 'a-1').map((e) => e.type)).toEqual(['A']);
    await reopened.append('a-1', 0, [event('B')]);
    await reopened.close();
    const again = new EventStoreEngine({ dataDir: dir });
    expect(readEvents(again, 'a-1').map((e) => e.type)).toEqual(['A', 'B']);
    await again.close();
  });

  it('cuts at the first record whose checksum fails, including everything after it', async () => {
    const engine = new EventStoreEngine({ dataDir: dir });
    await engine.append('a-1', EXPECTED_NO_STREAM, [event('A')]);
    const second = await engine.append('a-1', 0, [event('B')]);
    await engine.append('a-1', 1, [event('C')]);
    await engine.close();
    if (second.kind !== 'success') throw new Error('append failed');
    const bytes = readFileSync(logFile);
    // Flip one byte inside the second record's payload.
    bytes[second.position + 20] ^= 0xff;
    writeFileSync(logFile, bytes);
    // The full scan (an open from the close's index checkpoint finds such damage after the open
    // instead: index-checkpoint.spec.ts).
    rmSync(path.join(dir, INDEX_CHECKPOINT_FILE));

    const reopened = new EventStoreEngine({ dataDir: dir });
    expect(readEvents(reopened, 'a-1').map((e) => e.type)).toEqual(['A']);
    expect(reopened.truncatedBytes).toBeGreaterThan(0);
    await reopened.close();
  });

  it('treats a header cut before it was whole as an empty log', async () => {
    writeFileSync(logFile, LOG_MAGIC.subarray(0, 5));
    const engine = new EventStoreEngine({ dataDir: dir });
    expect(engine.index.count).toBe(0);
    await engine.close();
    expect(readFileSync(logFile)).toEqual(LOG_MAGIC);
  });

  it('refuses a file that is not an event log', () => {
    writeFileSync(logFile, Buffer.from('this is not the log you are looking for'));
    expect(() => FileEventLog.open(dir, () => undefined)).toThrow(/bad magic header/);
  });

  it('answers appends that arrive together in position order, all durable', async () => {
    const engine = new EventStoreEngine({ dataDir: dir });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, k) => engine.append(`s-${k % 5}`, EXPECTED_ANY, [event()])),
    );
    const positions = results.map((r) => (r.kind === 'success' ? r.position : -1));
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
    expect(engine.durableCount).toBe(50);
    await engine.close();
  });
});

describe('engine decisions', () => {
  let engine: EventStoreEngine;
  beforeEach(() => {
    engine = new EventStoreEngine({ memory: true });
  });
  afterEach(() => engine.close());

  it('re-appending the same ids at the same place answers the original result without writing', async () => {
    const events = [event('A'), event('B')];
    const first = await engine.append('x-1', EXPECTED_NO_STREAM, events);
    const again = await engine.append('x-1', EXPECTED_NO_STREAM, events);
    const anyAgain = await engine.append('x-1', EXPECTED_ANY, events);
    expect(again).toEqual(first);
    expect(anyAgain).toEqual(first);
    expect(engine.index.count).toBe(2);
  });

  it('a partly matching re-append is a wrong expected version', async () => {
    const events = [event('A'), event('B')];
    await engine.append('x-1', EXPECTED_NO_STREAM, events);
    const mixed = await engine.append('x-1', EXPECTED_NO_STREAM, [events[0], event('Z')]);
    expect(mixed).toEqual({ kind: 'wrong_expected_version', current: 1, expected: EXPECTED_NO_STREAM });
  });

  it('does not show an event to readers before its record is durable', async () => {
    const pending = engine.append('x-1', EXPECTED_ANY, [event()]);
    expect(engine.streamReadState('x-1').kind).toBe('not_found');
    await pending;
    expect(engine.streamReadState('x-1').kind).toBe('ok');
  });
});
