import { randomBytes } from 'node:crypto';
import { BACKWARDS, END, jsonEvent, type EventStoreDBClient } from '@eventstore/db-client';
import {
  CommandProcessor,
  defaultSnapshotStreamName,
  type CommandProcessorObserver,
  type Decider,
  type DomainEvent,
} from '../../src/event-store/command-processing';
import {
  SNAPSHOT_CHUNK_EVENT_TYPE,
  SNAPSHOT_EVENT_TYPE,
  defaultSnapshotChunkStreamName,
} from '../../src/event-store/command-processing/snapshot-store';
import { ledgerDecider, ledgerImage, type LedgerCommand } from '../../src/ledger/domain';
import {
  allocate,
  createSub,
  openParent,
  purchase,
  useCredits,
} from '../../src/ledger/domain/testing/ledger-fixtures';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import { pollUntil } from '../support/poll';

/*
 * Snapshots of any size: a state whose JSON is bigger than one event is written as chunks (one append
 * each, none over the append limit) and then a manifest naming them, the commit point. A load reads
 * the newest manifest and its chunks and checks them; a write interrupted between chunks leaves orphans
 * that no manifest names, and a snapshot that does not check out is passed over for the one before,
 * then for the whole stream.
 */

/** A toy whose state grows by a blob per event, so a few events make a state of several chunks. */
type BlobCommand = { type: 'Put'; key: string; blob: string } | { type: 'Inspect' };
type BlobEvent = DomainEvent<'Put', { key: string; blob: string }>;
type BlobState = { blobs: Record<string, string>; events: number };
type BlobResult = { events: number; digest: string };

const blobDecider: Decider<BlobState, BlobCommand, BlobEvent, BlobResult> = {
  initialState: () => ({ blobs: {}, events: 0 }),
  evolve(state, event) {
    state.blobs[event.data.key] = event.data.blob;
    state.events += 1;
    return state;
  },
  decide(command, state) {
    if (command.type === 'Inspect') {
      return { events: [], result: { events: state.events, digest: digestOf(state) } };
    }
    return {
      events: [{ type: 'Put', data: { key: command.key, blob: command.blob } }],
      result: { events: state.events + 1, digest: '' },
    };
  },
  toSnapshot: (state) => state,
  fromSnapshot: (json) => {
    const { blobs, events } = json as BlobState;
    return { blobs: { ...blobs }, events };
  },
};

function digestOf(state: BlobState): string {
  return JSON.stringify(Object.entries(state.blobs).sort(([a], [b]) => a.localeCompare(b)));
}

const KIB = 1024;
/** Each Put adds ~200 KiB of JSON; the processor's chunks are at most 900 KiB. */
const put = (index: number): BlobCommand => ({
  type: 'Put',
  key: `k${index}`,
  blob: randomBytes(150 * KIB).toString('base64'),
});

function recording() {
  const loads: { events: number; fromSnapshot: boolean }[] = [];
  const snapshots: bigint[] = [];
  const failures: string[] = [];
  const observer: CommandProcessorObserver = {
    onLoad: ({ events, fromSnapshot }) => loads.push({ events, fromSnapshot }),
    onSnapshot: ({ revision }) => snapshots.push(revision),
    onFailure: ({ stage }) => failures.push(stage),
  };
  return { observer, loads, snapshots, failures };
}

type Manifest = {
  revision: string;
  chunks?: { stream: string; revisions: string[]; bytes: number; sha256: string };
  state?: unknown;
};

async function manifestsOf(client: EventStoreDBClient, stream: string): Promise<Manifest[]> {
  const events = await collect(client.readStream(defaultSnapshotStreamName(stream))).catch(() => []);
  return events.map((resolved) => {
    expect(resolved.event?.type).toBe(SNAPSHOT_EVENT_TYPE);
    return resolved.event!.data as Manifest;
  });
}

/**
 * A client that dies after `chunksBeforeCrash` snapshot chunks: every later call of the writer fails, as
 * if its process had been killed between two chunk appends.
 */
function crashingAfterChunks(client: EventStoreDBClient, chunksBeforeCrash: number): EventStoreDBClient {
  let chunks = 0;
  let dead = false;
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (dead) return Promise.reject(new Error('the writer was killed'));
        if (property === 'appendToStream' && String(args[0]).includes('snapshotchunk-')) {
          if (chunks === chunksBeforeCrash) {
            dead = true;
            return Promise.reject(new Error('the writer was killed'));
          }
          chunks++;
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe('command processor: snapshots bigger than one event', () => {
  let store: TestEventStore;
  beforeAll(async () => {
    store = await startTestEventStore();
  });
  afterAll(async () => {
    await store?.stop();
  });

  function processor(options: {
    client?: EventStoreDBClient;
    every?: number;
    observer?: CommandProcessorObserver;
  }) {
    return new CommandProcessor({
      client: options.client ?? store.client,
      decider: blobDecider,
      snapshots: { every: options.every ?? 10, eventsPerChunk: 1 },
      observer: options.observer,
      logger: { warn: () => undefined },
    });
  }

  async function inspect(stream: string, observer?: CommandProcessorObserver, snapshots = true) {
    const reader = snapshots
      ? processor({ every: 1_000, observer })
      : new CommandProcessor({ client: store.client, decider: blobDecider, snapshots: false });
    try {
      return (await reader.execute(stream, { type: 'Inspect' })).result;
    } finally {
      await reader.close();
    }
  }

  it('writes a state of several chunks, each append under the limit, the manifest last, and loads from it', async () => {
    const stream = uniqueStream('blobs');
    const writer = processor({ every: 10 });
    for (let index = 0; index < 12; index++) await writer.execute(stream, put(index));
    await writer.close();

    const [manifest] = await manifestsOf(store.client, stream);
    expect(manifest.revision).toBe('9');
    expect(manifest.state).toBeUndefined();
    const chunkEvents = await collect(store.client.readStream(defaultSnapshotChunkStreamName(stream)));
    expect(chunkEvents.length).toBeGreaterThanOrEqual(3);
    expect(manifest.chunks!.revisions).toEqual(
      chunkEvents.map((resolved) => String(resolved.event!.revision)),
    );
    let bytes = 0;
    for (const { event } of chunkEvents) {
      expect(event!.type).toBe(SNAPSHOT_CHUNK_EVENT_TYPE);
      const data = event!.data as Uint8Array;
      expect(data.byteLength).toBeLessThanOrEqual(900 * KIB);
      bytes += data.byteLength;
    }
    expect(bytes).toBe(manifest.chunks!.bytes);

    const seen = recording();
    const viaSnapshot = await inspect(stream, seen.observer);
    expect(seen.loads).toEqual([{ events: 2, fromSnapshot: true }]);
    expect(seen.failures).toEqual([]);
    expect(viaSnapshot).toEqual(await inspect(stream, undefined, false));
    expect(viaSnapshot.events).toBe(12);
  });

  it('waits longer between snapshots of a bigger state: eventsPerChunk per chunk it took', async () => {
    const stream = uniqueStream('blobs');
    const seen = recording();
    const writer = new CommandProcessor({
      client: store.client,
      decider: blobDecider,
      snapshots: { every: 2, eventsPerChunk: 4 },
      observer: seen.observer,
    });
    for (let index = 0; index < 30; index++) await writer.execute(stream, put(index));
    await writer.close();
    // The state at revision r holds r + 1 blobs of the same length: its size, and so its chunks, are known.
    const blob = put(0) as { blob: string };
    const chunksAt = (revision: bigint): number => {
      const state: BlobState = { blobs: {}, events: Number(revision) + 1 };
      for (let index = 0; index <= Number(revision); index++) state.blobs[`k${index}`] = blob.blob;
      const bytes = Buffer.byteLength(JSON.stringify(state));
      return bytes <= 900 * KIB ? 0 : Math.ceil(bytes / (900 * KIB));
    };
    expect(seen.snapshots.length).toBeGreaterThanOrEqual(3);
    // A fixed interval of 2 would have written 15.
    expect(seen.snapshots.length).toBeLessThan(8);
    for (let index = 1; index < seen.snapshots.length; index++) {
      const previous = seen.snapshots[index - 1];
      const wanted = Math.max(2, 4 * chunksAt(previous));
      expect(Number(seen.snapshots[index] - previous)).toBeGreaterThanOrEqual(wanted);
    }
    expect(chunksAt(seen.snapshots[seen.snapshots.length - 1])).toBeGreaterThanOrEqual(4);
  });

  it('cuts to the two newest manifests and their chunks after every write, reading none back once it wrote the one before', async () => {
    const stream = uniqueStream('blobs');
    const snapshotStream = defaultSnapshotStreamName(stream);
    let snapshotReads = 0;
    const counting = new Proxy(store.client, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (property === 'readStream' && args[0] === snapshotStream) snapshotReads++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const seen = recording();
    const writer = new CommandProcessor({
      client: counting,
      decider: blobDecider,
      snapshots: { every: 2, eventsPerChunk: 1 },
      observer: seen.observer,
    });
    const chunkStream = defaultSnapshotChunkStreamName(stream);
    const revisionsIn = async (name: string) =>
      (await collect(store.client.readStream(name)).catch(() => [])).map((resolved) =>
        String(resolved.event!.revision),
      );
    let readsAfterSecond = -1;
    // A snapshot is due `every` (2) events after the last, or one event per chunk it took if more.
    let last = -1n;
    let interval = 2n;
    for (let index = 0; index < 14; index++) {
      await writer.execute(stream, put(index));
      if (BigInt(index) - last < interval) continue;
      const written = seen.snapshots.length + 1;
      await pollUntil(
        async () => seen.snapshots.length,
        (count) => count === written,
      );
      last = BigInt(index);
      if (written === 2) readsAfterSecond = snapshotReads;
      const kept = await manifestsOf(store.client, stream);
      expect(kept.map((manifest) => manifest.revision)).toEqual(
        seen.snapshots.slice(-2).map((revision) => String(revision)),
      );
      const chunks = BigInt(kept[kept.length - 1].chunks?.revisions.length ?? 0);
      interval = chunks > 2n ? chunks : 2n;
      if (kept.length === 2) {
        expect(await revisionsIn(chunkStream)).toEqual(
          kept.flatMap((manifest) => manifest.chunks?.revisions ?? []),
        );
      }
    }
    await writer.close();
    expect(seen.failures).toEqual([]);
    expect(seen.snapshots.length).toBeGreaterThanOrEqual(5);
    // The first load and the first cut read the snapshot stream; the later writes knew the one before.
    expect(readsAfterSecond).toBeGreaterThan(0);
    expect(snapshotReads).toBe(readsAfterSecond);
  });

  it('ignores the orphan chunks of a write interrupted between chunks, and loads the snapshot before it', async () => {
    const stream = uniqueStream('blobs');
    const writer = processor({ every: 5 });
    for (let index = 0; index < 5; index++) await writer.execute(stream, put(index));
    await writer.close();
    const [complete] = await manifestsOf(store.client, stream);
    expect(complete.revision).toBe('4');
    expect(complete.chunks!.revisions).toEqual(['0', '1']);

    // The next snapshot (at revision 9, ~2 MB, three chunks) dies after its first chunk.
    const crashed = processor({ client: crashingAfterChunks(store.client, 1), every: 5 });
    for (let index = 5; index < 10; index++) await crashed.execute(stream, put(index));
    await crashed.close();
    const chunkStream = defaultSnapshotChunkStreamName(stream);
    const revisionsIn = async (name: string) =>
      (await collect(store.client.readStream(name))).map((resolved) => String(resolved.event!.revision));
    expect(await revisionsIn(chunkStream)).toEqual(['0', '1', '2']);
    expect((await manifestsOf(store.client, stream)).map((manifest) => manifest.revision)).toEqual(['4']);

    const seen = recording();
    const viaSnapshot = await inspect(stream, seen.observer);
    expect(seen.loads).toEqual([{ events: 5, fromSnapshot: true }]);
    expect(seen.failures).toEqual([]);
    expect(viaSnapshot).toEqual(await inspect(stream, undefined, false));

    // The next complete snapshots go after the orphan, which is cut with the older of the two kept.
    let next = 10;
    const revisionsKept = async () => (await manifestsOf(store.client, stream)).map((m) => m.revision);
    while ((await revisionsKept()).includes('4') && next < 30) {
      // Closed after each command so that its snapshot, if it takes one, is in the store.
      const resumed = processor({ every: 5 });
      await resumed.execute(stream, put(next++));
      await resumed.close();
    }
    expect(await revisionsKept()).toHaveLength(2);
    expect(await revisionsKept()).not.toContain('4');
    const kept = await manifestsOf(store.client, stream);
    expect(await revisionsIn(chunkStream)).toEqual(kept.flatMap((manifest) => manifest.chunks!.revisions));
    expect(await revisionsIn(chunkStream)).not.toContain('2');
    const reseen = recording();
    await inspect(stream, reseen.observer);
    expect(reseen.loads).toEqual([{ events: 0, fromSnapshot: true }]);
  });

  it('passes over a snapshot whose chunks do not match its manifest: the one before, then the whole stream', async () => {
    const stream = uniqueStream('blobs');
    const writer = processor({ every: 3 });
    for (let index = 0; index < 10; index++) await writer.execute(stream, put(index));
    await writer.close();
    const [, newest] = await manifestsOf(store.client, stream);
    expect(newest.chunks!.revisions.length).toBeGreaterThan(1);

    // A forged manifest naming the newest chunks with another digest.
    const snapshotStream = defaultSnapshotStreamName(stream);
    const forged = { ...newest, chunks: { ...newest.chunks!, sha256: '0'.repeat(64) } };
    await store.client.appendToStream(snapshotStream, jsonEvent({ type: SNAPSHOT_EVENT_TYPE, data: forged }));
    const seen = recording();
    const full = await inspect(stream, undefined, false);
    expect(await inspect(stream, seen.observer)).toEqual(full);
    // The two newest are now the real one and the forged one: the forged one fails, the real one loads.
    expect(seen.failures).toEqual(['snapshot']);
    expect(seen.loads).toEqual([{ events: 9 - Number(newest.revision), fromSnapshot: true }]);

    // Its chunks cut as well: neither of the two newest loads, so the whole stream is folded.
    await store.client.setStreamMetadata(defaultSnapshotChunkStreamName(stream), { truncateBefore: 1_000 });
    const again = recording();
    expect(await inspect(stream, again.observer)).toEqual(full);
    expect(again.failures).toEqual(['snapshot', 'snapshot']);
    expect(again.loads).toEqual([{ events: 10, fromSnapshot: false }]);
  });
});

describe('command processor: a ledger of 20,000 sub-accounts', () => {
  const SUB_ACCOUNTS = 20_000;
  let store: TestEventStore;
  beforeAll(async () => {
    store = await startTestEventStore();
  });
  afterAll(async () => {
    await store?.stop();
  });

  type Inspectable = LedgerCommand | { type: 'Image' };
  const inspectableLedger: Decider<
    ReturnType<typeof ledgerDecider.initialState>,
    Inspectable,
    Parameters<typeof ledgerDecider.evolve>[1],
    unknown
  > = {
    ...ledgerDecider,
    decide: (command, state) =>
      command.type === 'Image'
        ? { events: [], result: ledgerImage(state) }
        : ledgerDecider.decide(command, state),
  };

  it('loads from its chunked snapshot and a short tail, not the whole stream, to the same state', async () => {
    const stream = uniqueStream('ledger');
    const writer = new CommandProcessor({ client: store.client, decider: inspectableLedger });
    await writer.execute(stream, openParent());
    await writer.execute(stream, purchase(1_000_000));
    const sent: Promise<unknown>[] = [];
    for (let index = 0; index < SUB_ACCOUNTS; index++) {
      sent.push(writer.execute(stream, createSub(`sub-${index}`)));
      if (sent.length === 2_000) await Promise.all(sent.splice(0));
    }
    await Promise.all(sent);
    for (let index = 0; index < 50; index++) {
      await writer.execute(stream, allocate(`sub-${index}`, 100));
      await writer.execute(stream, useCredits(`sub-${index}`, `key-${index}`, 7));
    }
    await writer.close();
    const [head] = await collect(
      store.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }),
    );
    const headRevision = Number(head.event!.revision);

    const manifests = await manifestsOf(store.client, stream);
    const newest = manifests[manifests.length - 1];
    expect(newest.chunks!.revisions.length).toBeGreaterThan(1);

    const seen = recording();
    const reader = new CommandProcessor({
      client: store.client,
      decider: inspectableLedger,
      observer: seen.observer,
    });
    const full = new CommandProcessor({ client: store.client, decider: inspectableLedger, snapshots: false });
    try {
      const viaSnapshot = await reader.execute(stream, { type: 'Image' });
      expect(seen.loads).toEqual([{ events: headRevision - Number(newest.revision), fromSnapshot: true }]);
      expect(seen.loads[0].events).toBeLessThan(SUB_ACCOUNTS / 2);
      const viaFullFold = await full.execute(stream, { type: 'Image' });
      expect(viaSnapshot.result).toEqual(viaFullFold.result);
      expect((viaSnapshot.result as { subAccounts: unknown[] }).subAccounts).toHaveLength(SUB_ACCOUNTS);
    } finally {
      await reader.close();
      await full.close();
    }
  }, 180_000);
});
