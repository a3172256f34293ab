import { StreamMetadata } from '../engine/stream-metadata';

/**
 * The in-memory index, rebuilt from the log on open. Per event it keeps a few numbers in
 * typed arrays (about 40 bytes an event, nothing per event on the JS heap); payloads stay in
 * the log and are read back by position.
 */

class GrowableArray<T extends Float64Array | Uint32Array> {
  data: T;

  constructor(private readonly make: (n: number) => T) {
    this.data = make(1024);
  }

  /** The first `count` values' bytes (a view, for a checkpoint). */
  bytes(count: number): Buffer {
    return Buffer.from(this.data.buffer, this.data.byteOffset, count * this.data.BYTES_PER_ELEMENT);
  }

  /** Takes `count` values from a checkpoint's bytes, with room to grow. */
  restore(bytes: Buffer, count: number): void {
    const data = this.make(Math.max(1024, Math.ceil(count * 1.25)));
    new Uint8Array(data.buffer).set(bytes);
    this.data = data;
  }

  set(i: number, v: number): void {
    if (i >= this.data.length) {
      const next = this.make(Math.max(this.data.length * 2, i + 1));
      next.set(this.data);
      this.data = next;
    }
    this.data[i] = v;
  }
}

export class StreamState {
  /** Global event index of each revision, revision = array slot. */
  private revs = new Uint32Array(4);
  count = 0;
  /** Global index of the tombstone, -1 if none. */
  tombstoneIndex = -1;
  /** Metadata as of the newest appended `$$` event (drives write decisions). */
  writeMeta: StreamMetadata = {};
  /** Metadata as of the newest durable `$$` event (drives reads). */
  readMeta: StreamMetadata = {};
  rawMetaJson: Record<string, unknown> = {};

  constructor(
    readonly no: number,
    readonly name: string,
  ) {}

  push(globalIndex: number): void {
    if (this.count === this.revs.length) {
      const next = new Uint32Array(this.revs.length * 2);
      next.set(this.revs);
      this.revs = next;
    }
    this.revs[this.count++] = globalIndex;
  }

  at(revision: number): number {
    return this.revs[revision];
  }

  /** Number of revisions whose events are durable (visible to readers). */
  durableCount(durableEvents: number): number {
    let n = this.count;
    while (n > 0 && this.revs[n - 1] >= durableEvents) n--;
    return n;
  }
}

export class EventIndex {
  count = 0;
  private readonly pos = new GrowableArray((n) => new Float64Array(n));
  private readonly len = new GrowableArray((n) => new Uint32Array(n));
  private readonly streamNo = new GrowableArray((n) => new Uint32Array(n));
  private readonly rev = new GrowableArray((n) => new Float64Array(n));
  private readonly typeNo = new GrowableArray((n) => new Uint32Array(n));
  private readonly created = new GrowableArray((n) => new Float64Array(n));
  readonly streams: StreamState[] = [];
  private readonly streamByName = new Map<string, StreamState>();
  readonly types: string[] = [];
  private readonly typeByName = new Map<string, number>();

  stream(name: string): StreamState | undefined {
    return this.streamByName.get(name);
  }

  streamOrCreate(name: string): StreamState {
    let s = this.streamByName.get(name);
    if (!s) {
      s = new StreamState(this.streams.length, name);
      this.streams.push(s);
      this.streamByName.set(name, s);
    }
    return s;
  }

  typeNumber(type: string): number {
    let n = this.typeByName.get(type);
    if (n === undefined) {
      n = this.types.length;
      this.types.push(type);
      this.typeByName.set(type, n);
    }
    return n;
  }

  add(
    position: number,
    length: number,
    stream: StreamState,
    revision: number,
    type: string,
    createdMs: number,
  ): number {
    const i = this.count++;
    this.pos.set(i, position);
    this.len.set(i, length);
    this.streamNo.set(i, stream.no);
    this.rev.set(i, revision);
    this.typeNo.set(i, this.typeNumber(type));
    this.created.set(i, createdMs);
    if (revision >= 0) stream.push(i);
    else stream.tombstoneIndex = i;
    return i;
  }

  /** What a checkpoint keeps of the index (the streams' revisions follow from the arrays). */
  checkpoint(): {
    arrays: Buffer[];
    streams: { name: string; meta?: Record<string, unknown> }[];
    types: string[];
  } {
    return {
      arrays: this.arrays().map((array) => array.bytes(this.count)),
      streams: this.streams.map((st) =>
        Object.keys(st.rawMetaJson).length > 0 ? { name: st.name, meta: st.rawMetaJson } : { name: st.name },
      ),
      types: [...this.types],
    };
  }

  /**
   * The index a checkpoint kept, in an empty index: the arrays, the streams in their numbering (each
   * stream's revisions and tombstone rebuilt from the arrays, as `add` made them), the types.
   * `applyMeta` sets a stream's metadata from what the checkpoint kept of it.
   */
  restore(
    count: number,
    arrays: Buffer[],
    streams: readonly { name: string; meta?: Record<string, unknown> }[],
    types: readonly string[],
    applyMeta: (stream: StreamState, raw: Record<string, unknown>) => void,
  ): void {
    // Everything that can be wrong is found before the streams are made: a failed restore leaves an
    // index that a full scan can still fill (only the arrays' storage was replaced).
    if (this.count !== 0 || this.streams.length !== 0)
      throw new Error('index checkpoint: the index is not empty');
    const parts = this.arrays();
    if (arrays.length !== parts.length) throw new Error('index checkpoint: wrong number of arrays');
    parts.forEach((array, n) => {
      if (arrays[n].length !== count * array.data.BYTES_PER_ELEMENT) {
        throw new Error('index checkpoint: wrong array size');
      }
    });
    parts.forEach((array, n) => array.restore(arrays[n], count));
    const streamNo = this.streamNo.data;
    const typeNo = this.typeNo.data;
    for (let i = 0; i < count; i++) {
      if (streamNo[i] >= streams.length || typeNo[i] >= types.length) {
        throw new Error('index checkpoint: an event of an unknown stream or type');
      }
    }
    for (const type of types) this.typeNumber(type);
    for (const stream of streams) {
      const st = this.streamOrCreate(stream.name);
      if (stream.meta !== undefined) applyMeta(st, stream.meta);
    }
    const rev = this.rev.data;
    for (let i = 0; i < count; i++) {
      const st = this.streams[streamNo[i]];
      if (rev[i] >= 0) st.push(i);
      else st.tombstoneIndex = i;
    }
    this.count = count;
  }

  private arrays(): GrowableArray<Float64Array | Uint32Array>[] {
    return [this.pos, this.len, this.streamNo, this.rev, this.typeNo, this.created];
  }

  position(i: number): number {
    return this.pos.data[i];
  }
  length(i: number): number {
    return this.len.data[i];
  }
  streamOf(i: number): number {
    return this.streamNo.data[i];
  }
  revision(i: number): number {
    return this.rev.data[i];
  }
  typeOf(i: number): number {
    return this.typeNo.data[i];
  }
  createdMs(i: number): number {
    return this.created.data[i];
  }

  /** First index in [0, limit) whose position is >= `position` (limit if none). */
  firstAtOrAfter(position: number, limit: number): number {
    const p = this.pos.data;
    let lo = 0;
    let hi = limit;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p[mid] < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
