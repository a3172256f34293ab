import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient, NO_STREAM, jsonEvent, type JSONEventData } from '@eventstore/db-client';
import {
  collect,
  spawnEmbeddedEventStore,
  uniqueStream,
  type EventStoreProcess,
} from '../support/event-store';

/**
 * Damage to the end of the data files, as a crash in the middle of a write leaves it. These tests
 * know nothing of the file format: they only compare file sizes before and after one append, so
 * they keep working whatever the server's layout (see docs/storage-format.md for the current one).
 */
describe('recovery from a damaged log tail', () => {
  let dataDir: string;
  let server: EventStoreProcess | undefined;
  let client: EventStoreDBClient | undefined;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'subledger-torn-'));
  });

  afterEach(async () => {
    await client?.dispose();
    client = undefined;
    await server?.killHard();
    server = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<EventStoreDBClient> {
    server = await spawnEmbeddedEventStore({ dataDir });
    client = EventStoreDBClient.connectionString(server.connectionString);
    return client;
  }

  async function crash(): Promise<void> {
    await client?.dispose();
    client = undefined;
    await server!.killHard();
  }

  function fileSizes(): Map<string, number> {
    const sizes = new Map<string, number>();
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile()) sizes.set(full, fs.statSync(full).size);
      }
    };
    walk(dataDir);
    return sizes;
  }

  const event = (i: number, bytes = 64): JSONEventData =>
    jsonEvent({
      id: randomUUID(),
      type: 'TornTailTested',
      data: { i, blob: randomBytes(bytes).toString('hex') },
    });

  /** Appends `kept` and acknowledges them, kills the server, and returns the file sizes at that point. */
  async function writeKeptEvents(stream: string, kept: JSONEventData[]): Promise<Map<string, number>> {
    const c = await start();
    await c.appendToStream(stream, kept.slice(0, 5), { expectedRevision: NO_STREAM });
    await c.appendToStream(stream, kept.slice(5), { expectedRevision: 4n });
    await crash();
    return fileSizes();
  }

  async function expectExactly(stream: string, kept: JSONEventData[]): Promise<void> {
    const c = await start();
    const read = await collect(c.readStream(stream));
    expect(read.map(({ event: e }) => [e!.revision, e!.id, e!.data])).toEqual(
      kept.map((e, i) => [BigInt(i), e.id, e.data]),
    );
    const inAll = (await collect(c.readAll())).filter(({ event: e }) => e!.streamId === stream);
    expect(inAll.map(({ event: e }) => e!.id)).toEqual(kept.map((e) => e.id));
    // The cut must leave a log that takes new appends at the right revision and keeps them.
    const next = event(99);
    const result = await c.appendToStream(stream, next, { expectedRevision: BigInt(kept.length - 1) });
    expect(result.nextExpectedRevision).toBe(BigInt(kept.length));
    await crash();
    const again = await start();
    const reread = await collect(again.readStream(stream));
    expect(reread.map(({ event: e }) => e!.id)).toEqual([...kept, next].map((e) => e.id));
  }

  it('cuts random garbage appended to every file and keeps all complete records', async () => {
    const stream = uniqueStream('torn_garbage');
    const kept = Array.from({ length: 8 }, (_, i) => event(i));
    const sizes = await writeKeptEvents(stream, kept);
    expect(sizes.size).toBeGreaterThan(0);

    for (const file of sizes.keys()) fs.appendFileSync(file, randomBytes(777));

    await expectExactly(stream, kept);
  });

  it('cuts garbage that looks like a plausible record header', async () => {
    const stream = uniqueStream('torn_header');
    const kept = Array.from({ length: 8 }, (_, i) => event(i));
    const sizes = await writeKeptEvents(stream, kept);

    // A small little-endian length followed by junk: a recovery that trusts lengths without a
    // checksum would take this for a record.
    const fake = Buffer.alloc(64, 0x41);
    fake.writeUInt32LE(40, 0);
    for (const file of sizes.keys()) fs.appendFileSync(file, fake);

    await expectExactly(stream, kept);
  });

  describe('a last append torn by the crash', () => {
    async function writeThenDamageLastAppend(damage: (file: string, from: number, to: number) => void) {
      const stream = uniqueStream('torn_last');
      const kept = Array.from({ length: 8 }, (_, i) => event(i));
      const before = await writeKeptEvents(stream, kept);

      const c = await start();
      await c.appendToStream(stream, [event(100, 8_000), event(101, 8_000)], { expectedRevision: 7n });
      await crash();

      const grown = [...fileSizes()].filter(([file, size]) => size > (before.get(file) ?? 0));
      expect(grown.length).toBeGreaterThan(0);
      for (const [file, size] of grown) damage(file, before.get(file) ?? 0, size);
      return { stream, kept };
    }

    it('drops an append cut in the middle of its bytes', async () => {
      const { stream, kept } = await writeThenDamageLastAppend((file, from, to) =>
        fs.truncateSync(file, from + Math.floor((to - from) / 2)),
      );
      await expectExactly(stream, kept);
    });

    it('drops an append with a flipped byte inside it', async () => {
      const { stream, kept } = await writeThenDamageLastAppend((file, from, to) => {
        const fd = fs.openSync(file, 'r+');
        try {
          const at = from + Math.floor((to - from) * 0.75);
          const byte = Buffer.alloc(1);
          fs.readSync(fd, byte, 0, 1, at);
          byte[0] ^= 0xff;
          fs.writeSync(fd, byte, 0, 1, at);
        } finally {
          fs.closeSync(fd);
        }
      });
      await expectExactly(stream, kept);
    });
  });
});
