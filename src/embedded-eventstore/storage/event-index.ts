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
