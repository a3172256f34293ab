import {
  BACKWARDS,
  END,
  StreamNotFoundError,
  binaryEvent,
  jsonEvent,
  type EventStoreDBClient,
  type JSONType,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { createHash, randomUUID } from 'node:crypto';

export const SNAPSHOT_EVENT_TYPE = 'StreamSnapshotted';
export const SNAPSHOT_CHUNK_EVENT_TYPE = 'StreamSnapshotChunk';

/** A folded state of a stream as of `revision`, so a load only reads the events after it. */
export interface StreamSnapshot {
  readonly revision: bigint;
  readonly commitPosition: bigint | undefined;
  readonly version: number;
  readonly state: unknown;
}

/** A snapshot's manifest as read from the store; its state is fetched (and checked) on demand. */
export interface SnapshotManifest extends Omit<StreamSnapshot, 'state'> {
  /** Revision of the manifest event in the snapshot stream. */
  readonly manifestRevision: bigint;
  /** Chunk events the state is stored in; 0 when the manifest carries the state itself. */
  readonly chunks: number;
  /** The state, parsed; rejects when a chunk is missing, of another snapshot or altered. */
  state(): Promise<unknown>;
}

/** Where a chunked snapshot's state lies: chunk revisions in order, total bytes and their SHA-256. */
interface ChunkReference {
  readonly [key: string]: JSONType | string | number | string[];
  readonly stream: string;
  readonly revisions: string[];
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * What the manifest (the snapshot event) carries; 64-bit numbers as decimal strings since JSON has no
 * bigint. Exactly one of `state` (a state that fits in one event) and `chunks` is present.
 */
interface SnapshotEventData {
  readonly [key: string]: JSONType | string | number | null | undefined | ChunkReference;
  readonly snapshotOf: string;
  readonly revision: string;
  readonly commitPosition: string | null;
  readonly version: number;
  readonly state?: JSONType;
  readonly chunks?: ChunkReference;
}

/** What a chunk event's metadata says, so a chunk read on its own names its snapshot. */
interface ChunkMetadata {
  readonly [key: string]: JSONType | string | number;
  readonly snapshotOf: string;
  readonly revision: string;
  readonly index: number;
}

/**
 * `ledger-p1` → `ledgersnapshot-p1`: still `category-id`, so `$ce-ledger` never sees snapshots while
 * `$ce-ledgersnapshot` can list them. Streams without a dash get the suffix on the whole name.
 */
export function defaultSnapshotStreamName(streamName: string): string {
  return streamNameWith(streamName, 'snapshot');
}

/** `ledger-p1` → `ledgersnapshotchunk-p1`: the chunks of states too big for one event. */
export function defaultSnapshotChunkStreamName(streamName: string): string {
  return streamNameWith(streamName, 'snapshotchunk');
}

/** `ledger-p1` with `snapshot` → `ledgersnapshot-p1`: the infix goes after the category. */
function streamNameWith(streamName: string, infix: string): string {
  const dash = streamName.indexOf('-');
  if (dash < 0) return `${streamName}${infix}`;
  return `${streamName.slice(0, dash)}${infix}${streamName.slice(dash)}`;
}

/**
 * A manifest this process appended, as the next write needs it to cut without reading it back: its
 * revision in the snapshot stream and the lowest chunk revision it names (undefined: inline).
 */
export interface WrittenManifest {
  readonly manifestRevision: bigint;
  readonly firstChunk: bigint | undefined;
}

/**
 * What the two manifests kept need: the older one's revision (undefined while the stream holds only
 * one) and the lowest chunk revision either names (undefined: both inline).
 */
interface KeptManifests {
  readonly olderManifest: bigint | undefined;
  readonly firstChunk: bigint | undefined;
}

function firstChunkOf(revisions: readonly string[]): bigint | undefined {
  let first: bigint | undefined;
  for (const revision of revisions) first = minimum(first, BigInt(revision));
  return first;
}

function minimum(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

/** Manifests kept in the snapshot stream: the newest, and the one a load falls back to. */
const MANIFESTS_KEPT = 2;

/**
 * Snapshots of any size. A state whose JSON fits in one event (`maxEventBytes`) rides in its manifest,
 * one append. A bigger one is cut into byte chunks of at most `maxEventBytes`, appended one per append
 * (the store refuses appends over 1 MiB) as binary events to the chunk stream, and then the manifest,
 * naming their revisions, size and SHA-256, goes to the snapshot stream: the manifest is the commit
 * point. A write interrupted before it leaves orphan chunks that no manifest names and that the next
 * cut removes. Chunks live in a stream of their own so that finding the newest manifest stays one
 * small read, whatever orphans lie about.
 *
 * The two newest manifests are kept, and the chunks they name: older ones are cut with `$tb`, so a
 * load whose newest snapshot does not check out can still start from the one before. A writer that
 * wrote the manifest before its own knows both and cuts without a read (`previous`); otherwise it
 * reads the two newest back from the store.
 */
export class SnapshotStore {
  constructor(
    private readonly client: EventStoreDBClient,
    private readonly streamNameOf: (streamName: string) => string = defaultSnapshotStreamName,
    private readonly chunkStreamNameOf: (streamName: string) => string = defaultSnapshotChunkStreamName,
  ) {}

  /** Newest first, at most the two kept. */
  async manifests(streamName: string): Promise<SnapshotManifest[]> {
    const manifests: SnapshotManifest[] = [];
    for (const resolved of await this.newestManifestEvents(streamName)) {
      const event = resolved.event;
      if (event?.type !== SNAPSHOT_EVENT_TYPE) continue;
      manifests.push(this.manifestOf(event.revision, event.data as SnapshotEventData));
    }
    return manifests;
  }

  /**
   * Writes `json` (the state, serialised once by the caller) as a snapshot at `snapshot.revision`, then
   * cuts what is older than the two newest. `previous`: the manifest this process wrote last for the
   * stream, if it knows it. Answers how many chunks it took (0: inline) and what it wrote, for the next
   * write's `previous`.
   */
  async write(
    streamName: string,
    snapshot: Omit<StreamSnapshot, 'state'>,
    json: string,
    maxEventBytes: number,
    previous?: WrittenManifest,
  ): Promise<{ chunks: number; bytes: number; written: WrittenManifest }> {
    const bytes = Buffer.from(json, 'utf8');
    const base = {
      snapshotOf: streamName,
      revision: snapshot.revision.toString(),
      commitPosition: snapshot.commitPosition === undefined ? null : snapshot.commitPosition.toString(),
      version: snapshot.version,
    };
    let data: SnapshotEventData;
    let chunks = 0;
    if (bytes.length <= maxEventBytes) {
      data = { ...base, state: JSON.parse(json) as JSONType };
    } else {
      const chunkStream = this.chunkStreamNameOf(streamName);
      const revisions: string[] = [];
      for (let offset = 0; offset < bytes.length; offset += maxEventBytes) {
        const metadata: ChunkMetadata = { snapshotOf: streamName, revision: base.revision, index: chunks };
        const appended = await this.client.appendToStream(
          chunkStream,
          binaryEvent({
            id: randomUUID(),
            type: SNAPSHOT_CHUNK_EVENT_TYPE,
            data: bytes.subarray(offset, offset + maxEventBytes),
            metadata,
          }),
        );
        revisions.push(appended.nextExpectedRevision.toString());
        chunks++;
      }
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      data = { ...base, chunks: { stream: chunkStream, revisions, bytes: bytes.length, sha256 } };
    }
    const appended = await this.client.appendToStream(
      this.streamNameOf(streamName),
      jsonEvent({ id: randomUUID(), type: SNAPSHOT_EVENT_TYPE, data }),
    );
    const written: WrittenManifest = {
      manifestRevision: appended.nextExpectedRevision,
      firstChunk: firstChunkOf(data.chunks?.revisions ?? []),
    };
    // When this process wrote the manifest just before this one too, it knows both manifests kept
    // without reading them back (a read that decodes two whole states): the snapshot stream holds
    // nothing but manifests, so the two newest are `written` and the one before it.
    const kept: KeptManifests =
      previous && previous.manifestRevision === written.manifestRevision - 1n
        ? {
            olderManifest: previous.manifestRevision,
            firstChunk: minimum(previous.firstChunk, written.firstChunk),
          }
        : await this.keptInStore(streamName);
    await this.cut(streamName, kept);
    return { chunks, bytes: bytes.length, written };
  }

  /**
   * What the two newest manifests need, as they are in the store: for a writer that does not know the
   * manifest before its own (its first snapshot of the stream, or another writer's came in between).
   * Computed from the store rather than from what this process wrote, so racing writers only ever cut
   * what is older than every manifest still kept: a writer that cuts the chunks of a manifest another
   * is about to append makes that manifest unusable, which a load detects and passes over.
   */
  private async keptInStore(streamName: string): Promise<KeptManifests> {
    const kept = await this.newestManifestEvents(streamName);
    const oldest = kept[kept.length - 1]?.event;
    let firstChunk: bigint | undefined;
    for (const resolved of kept) {
      const revisions = (resolved.event?.data as SnapshotEventData).chunks?.revisions ?? [];
      firstChunk = minimum(firstChunk, firstChunkOf(revisions));
    }
    return {
      olderManifest: oldest && kept.length === MANIFESTS_KEPT ? oldest.revision : undefined,
      firstChunk,
    };
  }

  /** Truncates both streams below what the kept manifests need. */
  private async cut(streamName: string, kept: KeptManifests): Promise<void> {
    if (kept.olderManifest !== undefined) {
      await this.client.setStreamMetadata(this.streamNameOf(streamName), {
        truncateBefore: Number(kept.olderManifest),
      });
    }
    await this.cutChunksBefore(streamName, kept.firstChunk);
  }

  /** Cuts the chunk stream below the first chunk a kept manifest names; nothing when none names one. */
  private async cutChunksBefore(streamName: string, firstChunk: bigint | undefined): Promise<void> {
    if (firstChunk !== undefined && firstChunk > 0n) {
      await this.client.setStreamMetadata(this.chunkStreamNameOf(streamName), {
        truncateBefore: Number(firstChunk),
      });
    }
  }

  private async newestManifestEvents(streamName: string): Promise<ResolvedEvent[]> {
    const events: ResolvedEvent[] = [];
    try {
      // Drained rather than left early: a read abandoned mid-way keeps the client from disposing.
      for await (const resolved of this.client.readStream(this.streamNameOf(streamName), {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: MANIFESTS_KEPT,
      })) {
        events.push(resolved);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return events;
  }

  private manifestOf(manifestRevision: bigint, data: SnapshotEventData): SnapshotManifest {
    const chunks = data.chunks;
    return {
      manifestRevision,
      revision: BigInt(data.revision),
      commitPosition: data.commitPosition === null ? undefined : BigInt(data.commitPosition),
      version: data.version,
      chunks: chunks ? chunks.revisions.length : 0,
      state: chunks
        ? () => this.chunkedState(data.snapshotOf, data.revision, chunks)
        : () => Promise.resolve(data.state),
    };
  }

  /** Reads the chunks a manifest names, in one read, and checks them before parsing. */
  private async chunkedState(streamName: string, revision: string, chunks: ChunkReference): Promise<unknown> {
    const wanted = chunks.revisions.map((value) => BigInt(value));
    if (wanted.length === 0) throw new Error('a chunked snapshot names no chunks');
    const first = wanted.reduce((low, value) => (value < low ? value : low));
    const last = wanted.reduce((high, value) => (value > high ? value : high));
    const found = new Map<bigint, Uint8Array>();
    try {
      for await (const resolved of this.client.readStream(chunks.stream, {
        fromRevision: first,
        maxCount: last - first + 1n,
      })) {
        const event = resolved.event;
        if (event?.type !== SNAPSHOT_CHUNK_EVENT_TYPE || !(event.data instanceof Uint8Array)) continue;
        const metadata = event.metadata as Partial<ChunkMetadata> | undefined;
        if (metadata?.snapshotOf !== streamName || metadata.revision !== revision) continue;
        found.set(event.revision, event.data);
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    const pieces = wanted.map((chunk) => {
      const piece = found.get(chunk);
      if (!piece) throw new Error(`snapshot chunk ${chunk} of ${chunks.stream} is missing`);
      return piece;
    });
    const bytes = Buffer.concat(pieces);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length !== chunks.bytes || sha256 !== chunks.sha256) {
      throw new Error(
        `the chunks of the snapshot at revision ${revision} do not match their manifest ` +
          `(${bytes.length} bytes, sha256 ${sha256}; expected ${chunks.bytes}, ${chunks.sha256})`,
      );
    }
    return JSON.parse(bytes.toString('utf8'));
  }
}
