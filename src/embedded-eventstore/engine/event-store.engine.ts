import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import {
  EVENT_LOG_FILE,
  EventLog,
  FileEventLog,
  FileSync,
  MemoryEventLog,
  ENTRY_HEADER_SIZE,
  RecordBuilder,
} from '../storage/event-log';
import { EventIndex, StreamState } from '../storage/event-index';
import { RecentIds } from './recent-ids';
import {
  readIndexCheckpoint,
  removeIndexCheckpoint,
  writeIndexCheckpoint,
  type IndexCheckpoint,
} from '../storage/index-checkpoint';
import {
  verifyLogInBackground,
  type LogVerification,
  type VerificationResult,
} from '../storage/log-verifier';
import {
  NewEvent,
  parseRecordedEvent,
  TOMBSTONE_REVISION,
  writeRecordedEvent,
} from '../storage/recorded-event.codec';
import {
  isMetaStream,
  isSoftDeleted,
  META_STREAM_METADATA,
  META_STREAM_PREFIX,
  metadataJsonWithTruncateBefore,
  metaStreamOf,
  parseStreamMetadata,
  SOFT_DELETED_TB_JSON,
  StreamMetadata,
} from './stream-metadata';
import {
  projectionUpdatedEvent,
  PROJECTIONS_STREAM_PREFIX,
  SYSTEM_PROJECTION_NAMES,
  SystemProjectionName,
  SystemProjections,
  viewEntry,
} from './system-projections';

/** Expected revisions as EventStoreDB numbers them: >= 0 exact, or one of these. */
export const EXPECTED_ANY = -2;
export const EXPECTED_NO_STREAM = -1;
export const EXPECTED_STREAM_EXISTS = -4;

export type AppendOutcome =
  | { kind: 'success'; revision: number; position: number }
  | { kind: 'wrong_expected_version'; current: number; expected: number }
  | { kind: 'stream_deleted' };

export type DeleteOutcome =
  | { kind: 'success'; position: number }
  | { kind: 'wrong_expected_version'; current: number; expected: number }
  | { kind: 'stream_deleted' };

export type StreamReadState =
  | { kind: 'not_found' }
  | { kind: 'deleted' }
  | { kind: 'ok'; stream: StreamState; first: number; end: number };

export interface EngineOptions {
  dataDir?: string;
  memory?: boolean;
  /** The log file's sync, `fdatasync` unless a test holds it (see FileEventLogOptions). */
  sync?: FileSync;
  /**
   * Called when the background verification of a log opened from its checkpoint finds a damaged
   * record: appends are refused from then on, and the next open scans the whole log. The embedded
   * server's process exits on it, as a real node terminates when a chunk fails its hash.
   */
  onLogDamaged?: (error: Error) => void;
}

/** How many recent event ids the idempotent re-append check remembers (EventStoreDB keeps an LRU too). */
const RECENT_ID_CAPACITY = 100_000;
/** The index checkpoint's layout: a checkpoint of another version is not used. */
const CHECKPOINT_VERSION = 1;
/** The index's own arrays in a checkpoint, before the id window's. */
const INDEX_ARRAYS = 6;
const LINK_EVENT_TYPE = '$>';
const JSON_CONTENT_TYPE = 'application/json';
export const EPOCH_INFORMATION_STREAM = '$epoch-information';
const EPOCH_INFORMATION_TYPE = '$epoch-information';

export interface StartOptions {
  /**
   * Whether the four standard projections run when this log first records them (KurrentDB's
   * `--start-standard-projections`); later starts keep what the log says (Enable/Disable).
   */
  startStandardProjections: boolean;
  /** The node's instance id, written in the epoch record as its leader. */
  instanceId?: string;
}

type Decision =
  | { kind: 'ok'; current: number; undelete: boolean }
  | { kind: 'wrong_expected_version'; current: number }
  | { kind: 'stream_deleted' }
  | { kind: 'idempotent'; lastRevision: number; lastIndex: number };

interface PlannedEvent {
  stream: StreamState;
  revision: number | bigint;
  event: NewEvent;
}

/**
 * The storage engine: decides appends against expected revisions, writes one framed record
 * per operation, and makes events visible to readers only once their record is durable.
 * Everything runs on the event loop, so a decision and the index update it implies happen
 * atomically with respect to every other request.
 */
export class EventStoreEngine {
  readonly index = new EventIndex();
  /** `$by_category`, `$by_event_type`, `$streams`, `$stream_by_category` as views of the index. */
  readonly projections = new SystemProjections(this.index);
  /** Events [0, durableCount) are on disk and visible; later ones are still in flight. */
  durableCount = 0;
  private readonly log: EventLog;
  private readonly recentIds = new RecentIds(RECENT_ID_CAPACITY);
  /** The id of a written event, in flight or durable: confirms a `recentIds` candidate. */
  private readonly idOfIndex = (i: number): string => {
    const pb = this.pendingEntry(i) ?? this.entry(i);
    return parseRecordedEvent(pb, 0, pb.length).id;
  };
  /**
   * Records written but not yet durable, oldest first (flushes are sequential), each covering the
   * consecutive event indexes [first, first + entryAt.length). The idempotency check reads in-flight
   * events from here, which is rare, so nothing is kept per event.
   */
  private pendingRecords: { first: number; record: Buffer; entryAt: number[] }[] = [];
  private readonly record = new RecordBuilder();
  private readonly listeners = new Set<() => void>();
  private durableWaiters: { index: number; resolve: () => void }[] = [];
  readonly truncatedBytes: number;
  /** Whether the index was taken from the checkpoint of the last clean close (and only the tail scanned). */
  readonly resumedFromCheckpoint: boolean = false;
  /**
   * The check of the records a checkpoint's open did not read (every record's checksum, on a thread):
   * intact at once when the whole log was scanned.
   */
  readonly verification: Promise<VerificationResult> = Promise.resolve({ kind: 'intact' });
  private verifier: LogVerification | undefined;
  private readonly dataDir: string | undefined;

  constructor(opts: EngineOptions) {
    if (opts.memory) {
      this.log = new MemoryEventLog();
      this.truncatedBytes = 0;
    } else {
      if (!opts.dataDir) throw new Error('dataDir is required unless memory is set');
      const checkpoint = readIndexCheckpoint(opts.dataDir);
      const { log, truncatedBytes, resumed } = FileEventLog.open(
        opts.dataDir,
        (position, buf, s, e) => this.replayEntry(position, buf, s, e),
        { sync: opts.sync },
        checkpoint && { mark: checkpoint.mark, restore: () => this.restoreCheckpoint(checkpoint) },
      );
      this.log = log;
      this.dataDir = opts.dataDir;
      this.truncatedBytes = truncatedBytes;
      this.resumedFromCheckpoint = resumed;
      if (resumed) {
        const verifier = verifyLogInBackground(path.join(opts.dataDir, EVENT_LOG_FILE), checkpoint!.mark.end);
        this.verifier = verifier;
        this.verification = verifier.result.then((result) => {
          if (result.kind === 'damaged') this.logDamaged(log, result.at, opts.onLogDamaged);
          return result;
        });
      }
      this.durableCount = this.index.count;
      this.projections.afterIndexed(this.index.count, true);
      for (const st of this.index.streams) st.readMeta = st.writeMeta;
    }
    this.log.onFlushed = () => this.afterFlush();
  }

  private replayEntry(position: number, buf: Buffer, start: number, end: number): void {
    const e = parseRecordedEvent(buf, start, end);
    const st = this.index.streamOrCreate(e.streamName);
    const createdMs = Math.floor(Number(e.createdTicks) / 10_000);
    const i = this.index.add(position, end - start, st, e.revision, e.type, createdMs);
    this.rememberId(e.id, i);
    if (isMetaStream(e.streamName)) {
      this.applyMetadata(e.streamName, buf.subarray(e.dataStart, e.dataEnd), 'write');
    } else if (e.streamName.startsWith(PROJECTIONS_STREAM_PREFIX)) {
      this.projections.replayControlEvent(e.streamName, e.type, buf.subarray(e.dataStart, e.dataEnd), i);
    }
  }

  /**
   * What a real node writes as it starts: a `$epoch-information` event (so `$all` is never empty), and
   * the first `$ProjectionUpdated` of each standard projection the log has not recorded yet. One record,
   * durable before the server takes calls.
   */
  async start(opts: StartOptions): Promise<void> {
    const epochs = this.index.stream(EPOCH_INFORMATION_STREAM);
    const epochNumber = epochs?.count ?? 0;
    const prevEpochPosition = epochNumber > 0 ? this.index.position(epochs!.at(epochNumber - 1)) : -1;
    const epoch = {
      epochPosition: this.log.end,
      epochNumber,
      epochId: randomUUID(),
      prevEpochPosition,
      timeStamp: new Date().toISOString(),
      leaderInstanceId: opts.instanceId ?? randomUUID(),
    };
    const planned: PlannedEvent[] = [
      {
        stream: this.index.streamOrCreate(EPOCH_INFORMATION_STREAM),
        revision: epochNumber,
        event: {
          id: randomUUID(),
          type: EPOCH_INFORMATION_TYPE,
          contentType: JSON_CONTENT_TYPE,
          data: Buffer.from(JSON.stringify(epoch)),
          customMetadata: new Uint8Array(0),
        },
      },
    ];
    for (const name of SYSTEM_PROJECTION_NAMES) {
      if (this.projections.isRecorded(name)) continue;
      this.projections.setEnabled(name, opts.startStandardProjections, this.index.count, false);
      const stream = PROJECTIONS_STREAM_PREFIX + name;
      planned.push({
        stream: this.index.streamOrCreate(stream),
        revision: this.nextRevisionOf(stream),
        event: projectionUpdatedEvent(randomUUID(), name, opts.startStandardProjections),
      });
    }
    await this.write(planned);
  }

  /**
   * Projections/Enable and Disable: the projection starts (catching up from its checkpoint) or stops
   * at once, and the change is recorded in `$projections-<name>` for the next start.
   */
  async setProjectionEnabled(name: SystemProjectionName, enabled: boolean): Promise<void> {
    this.projections.setEnabled(name, enabled, this.index.count, false);
    const stream = PROJECTIONS_STREAM_PREFIX + name;
    await this.write([
      {
        stream: this.index.streamOrCreate(stream),
        revision: this.nextRevisionOf(stream),
        event: projectionUpdatedEvent(randomUUID(), name, enabled),
      },
    ]);
  }

  private rememberId(id: string, index: number): void {
    this.recentIds.remember(id, index);
  }

  private applyMetadata(metaStreamName: string, data: Uint8Array, which: 'write' | 'read'): void {
    const target = this.index.streamOrCreate(metaStreamName.slice(META_STREAM_PREFIX.length));
    const { meta, raw } = parseStreamMetadata(data);
    if (which === 'write') {
      target.writeMeta = meta;
      target.rawMetaJson = raw;
    } else {
      target.readMeta = meta;
    }
  }

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private afterFlush(): void {
    if (this.durableWaiters.length > 0) {
      const still: typeof this.durableWaiters = [];
      for (const w of this.durableWaiters) {
        if (w.index < this.durableCount) w.resolve();
        else still.push(w);
      }
      this.durableWaiters = still;
    }
    for (const l of this.listeners) l();
  }

  private whenDurable(index: number): Promise<void> {
    if (index < this.durableCount) return Promise.resolve();
    return new Promise((resolve) => this.durableWaiters.push({ index, resolve }));
  }

  // ---------------------------------------------------------------- writes

  async append(streamName: string, expected: number, events: NewEvent[]): Promise<AppendOutcome> {
    const st = this.index.stream(streamName);
    const d = this.checkCommit(streamName, st, expected, events);
    switch (d.kind) {
      case 'stream_deleted':
        return d;
      case 'wrong_expected_version':
        return { kind: 'wrong_expected_version', current: d.current, expected };
      case 'idempotent':
        await this.whenDurable(d.lastIndex);
        return {
          kind: 'success',
          revision: d.lastRevision,
          position: this.index.position(d.lastIndex),
        };
      case 'ok':
        break;
    }
    if (events.length === 0) {
      return { kind: 'success', revision: d.current, position: this.log.end };
    }
    const stream = st ?? this.index.streamOrCreate(streamName);
    const planned: PlannedEvent[] = events.map((event, k) => ({
      stream,
      revision: d.current + 1 + k,
      event,
    }));
    if (d.undelete) {
      // EventStoreDB recreates a soft-deleted stream by moving $tb to the first new revision.
      planned.push({
        stream: this.index.streamOrCreate(metaStreamOf(streamName)),
        revision: this.nextRevisionOf(metaStreamOf(streamName)),
        event: metadataEvent(metadataJsonWithTruncateBefore(stream.rawMetaJson, String(d.current + 1))),
      });
    }
    const indexes = await this.write(planned);
    const last = indexes[events.length - 1];
    return {
      kind: 'success',
      revision: d.current + events.length,
      position: this.index.position(last),
    };
  }

  async deleteStream(streamName: string, expected: number): Promise<DeleteOutcome> {
    const st = this.index.stream(streamName);
    const check = this.checkDelete(st, expected);
    if (check) return check;
    const metaName = metaStreamOf(streamName);
    const raw = st?.rawMetaJson ?? {};
    const [i] = await this.write([
      {
        stream: this.index.streamOrCreate(metaName),
        revision: this.nextRevisionOf(metaName),
        event: metadataEvent(metadataJsonWithTruncateBefore(raw, SOFT_DELETED_TB_JSON)),
      },
    ]);
    return { kind: 'success', position: this.index.position(i) };
  }

  async tombstone(streamName: string, expected: number): Promise<DeleteOutcome> {
    const st = this.index.stream(streamName);
    const check = this.checkDelete(st, expected);
    if (check) return check;
    const [i] = await this.write([
      {
        stream: st ?? this.index.streamOrCreate(streamName),
        revision: TOMBSTONE_REVISION,
        event: {
          id: randomUUID(),
          type: '$streamDeleted',
          contentType: 'application/octet-stream',
          data: new Uint8Array(0),
          customMetadata: new Uint8Array(0),
        },
      },
    ]);
    return { kind: 'success', position: this.index.position(i) };
  }

  private nextRevisionOf(streamName: string): number {
    return this.index.stream(streamName)?.count ?? 0;
  }

  private checkDelete(st: StreamState | undefined, expected: number): DeleteOutcome | null {
    if (st && st.tombstoneIndex >= 0) return { kind: 'stream_deleted' };
    const current = st ? st.count - 1 : -1;
    const ok =
      expected === EXPECTED_ANY ||
      (expected === EXPECTED_NO_STREAM && current < 0) ||
      (expected === EXPECTED_STREAM_EXISTS && current >= 0) ||
      expected === current;
    return ok ? null : { kind: 'wrong_expected_version', current, expected };
  }

  /** EventStoreDB's commit check, including its idempotent re-append rule. */
  private checkCommit(
    streamName: string,
    st: StreamState | undefined,
    expected: number,
    events: NewEvent[],
  ): Decision {
    if (st && st.tombstoneIndex >= 0) return { kind: 'stream_deleted' };
    const current = st ? st.count - 1 : -1;
    const softDeleted = st ? isSoftDeleted(st.writeMeta) : false;
    if (expected === EXPECTED_STREAM_EXISTS) {
      if (softDeleted) return { kind: 'stream_deleted' };
      if (current < 0 && !(this.index.stream(metaStreamOf(streamName))?.count ?? 0)) {
        return { kind: 'wrong_expected_version', current };
      }
    }
    if (expected === EXPECTED_ANY || expected === EXPECTED_STREAM_EXISTS) {
      let lastIndex = -1;
      for (let k = 0; k < events.length; k++) {
        const i = this.recentIds.find(events[k].id, this.idOfIndex);
        if (i === undefined || !st || this.index.streamOf(i) !== st.no) {
          return k === 0
            ? { kind: 'ok', current, undelete: softDeleted }
            : { kind: 'wrong_expected_version', current };
        }
        lastIndex = i;
      }
      if (lastIndex < 0) return { kind: 'ok', current, undelete: softDeleted };
      return {
        kind: 'idempotent',
        lastRevision: this.index.revision(lastIndex),
        lastIndex,
      };
    }
    if (expected < current) {
      let revision = expected;
      for (let k = 0; k < events.length; k++) {
        revision++;
        if (revision <= current && this.idAt(st!, revision) === events[k].id) continue;
        if (k > 0) return { kind: 'wrong_expected_version', current };
        if (expected === EXPECTED_NO_STREAM && softDeleted) {
          return { kind: 'ok', current, undelete: true };
        }
        return { kind: 'wrong_expected_version', current };
      }
      if (revision === expected) return { kind: 'wrong_expected_version', current };
      const lastIndex = st!.at(revision);
      return { kind: 'idempotent', lastRevision: revision, lastIndex };
    }
    if (expected > current) return { kind: 'wrong_expected_version', current };
    return { kind: 'ok', current, undelete: softDeleted };
  }

  private idAt(st: StreamState, revision: number): string {
    return this.idOfIndex(st.at(revision));
  }

  private write(planned: PlannedEvent[]): Promise<number[]> {
    const recordStart = this.log.end;
    const nowMs = Date.now();
    const ticks = `${nowMs}0000`;
    const indexes: number[] = [];
    const metaUpdates: { name: string; data: Uint8Array }[] = [];
    const record = this.record;
    record.begin();
    for (const p of planned) {
      // An entry's position is its offset in the file, known before it is encoded.
      const position = recordStart + record.length;
      record.beginEntry();
      writeRecordedEvent(record.writer, p.stream.name, p.revision, position, ticks, p.event);
      const length = record.endEntry();
      const revision = typeof p.revision === 'bigint' ? -1 : p.revision;
      const i = this.index.add(position, length, p.stream, revision, p.event.type, nowMs);
      this.rememberId(p.event.id, i);
      if (isMetaStream(p.stream.name)) {
        this.applyMetadata(p.stream.name, p.event.data, 'write');
        metaUpdates.push({ name: p.stream.name, data: p.event.data });
      }
      indexes.push(i);
    }
    if (this.projections.anyEnabled) this.projections.afterIndexed(this.index.count, false);
    const framed = record.finish();
    const pending = { first: indexes[0], record: framed, entryAt: record.entryOffsets() };
    this.pendingRecords.push(pending);
    const endCount = this.index.count;
    return new Promise((resolve, reject) => {
      this.log.append(framed, (err) => {
        this.pendingRecords = this.pendingRecords.filter((p) => p !== pending);
        if (err) return reject(err);
        this.durableCount = endCount;
        for (const m of metaUpdates) this.applyMetadata(m.name, m.data, 'read');
        resolve(indexes);
      });
    });
  }

  /** The entry of an event whose record is not durable yet, or undefined. */
  private pendingEntry(i: number): Buffer | undefined {
    for (const p of this.pendingRecords) {
      const k = i - p.first;
      if (k < 0 || k >= p.entryAt.length) continue;
      const start = p.entryAt[k] + ENTRY_HEADER_SIZE;
      return p.record.subarray(start, start + p.record.readUInt32LE(p.entryAt[k]));
    }
    return undefined;
  }

  // ----------------------------------------------------------------- reads

  /** The stored RecordedEvent bytes of a durable event. */
  entry(i: number): Buffer {
    const start = this.index.position(i) + ENTRY_HEADER_SIZE;
    return this.log.read(start, start + this.index.length(i));
  }

  /** One read covering durable events [from, to): returns the bytes and the offset of byte 0. */
  readBlock(from: number, to: number): { buf: Buffer; base: number } {
    const base = this.index.position(from);
    const last = to - 1;
    const end = this.index.position(last) + ENTRY_HEADER_SIZE + this.index.length(last);
    return { buf: this.log.read(base, end), base };
  }

  streamReadState(streamName: string): StreamReadState {
    const st = this.index.stream(streamName);
    if (!st) return { kind: 'not_found' };
    if (st.tombstoneIndex >= 0 && st.tombstoneIndex < this.durableCount) return { kind: 'deleted' };
    const end = st.durableCount(this.durableCount);
    if (end === 0) return { kind: 'not_found' };
    const meta: StreamMetadata = isMetaStream(streamName) ? META_STREAM_METADATA : st.readMeta;
    if (isSoftDeleted(meta)) return { kind: 'not_found' };
    return { kind: 'ok', stream: st, first: this.firstReadable(st, meta, end), end };
  }

  private firstReadable(st: StreamState, meta: StreamMetadata, end: number): number {
    let first = 0;
    if (meta.truncateBefore !== undefined) first = Math.max(first, meta.truncateBefore);
    if (meta.maxCount !== undefined) first = Math.max(first, end - meta.maxCount);
    if (meta.maxAge !== undefined) {
      const cutoff = Date.now() - meta.maxAge * 1000;
      while (first < end && this.index.createdMs(st.at(first)) < cutoff) first++;
    }
    return Math.min(first, end);
  }

  /**
   * The RecordedEvent bytes of revision `revision` of `st`, whose event has global index `i`: the stored
   * event, or, in a system projection's stream, the link (or `$@`) a real node would have written there.
   */
  streamEntry(st: StreamState, revision: number, i: number): { pb: Buffer; link: boolean } {
    const stored = this.entry(i);
    if (this.index.streamOf(i) === st.no) return { pb: stored, link: this.isLink(i) };
    const pb = viewEntry(st, revision, stored, this.index.position(i));
    return { pb, link: !st.name.startsWith('$category-') };
  }

  isLink(i: number): boolean {
    return this.index.types[this.index.typeOf(i)] === LINK_EVENT_TYPE;
  }

  /** Global index of a link's target if it is readable, else -1. */
  resolveLink(linkPb: Buffer): number {
    const e = parseRecordedEvent(linkPb, 0, linkPb.length);
    const text = linkPb.toString('utf8', e.dataStart, e.dataEnd);
    const at = text.indexOf('@');
    if (at <= 0) return -1;
    const revision = Number(text.slice(0, at));
    const state = this.streamReadState(text.slice(at + 1));
    if (state.kind !== 'ok' || !Number.isInteger(revision)) return -1;
    if (revision < state.first || revision >= state.end) return -1;
    return state.stream.at(revision);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.verifier?.stop();
    await this.log.close();
    this.writeCheckpoint();
  }

  /** A record the checkpoint's open trusted fails its checksum: see EngineOptions.onLogDamaged. */
  private logDamaged(log: FileEventLog, at: number, onLogDamaged?: (error: Error) => void): void {
    const error = new Error(
      `the event log is damaged: the record at byte ${at} fails its checksum; appends are refused, and the next start scans the whole log`,
    );
    log.damaged(error);
    if (this.dataDir !== undefined) removeIndexCheckpoint(this.dataDir);
    onLogDamaged?.(error);
  }

  /**
   * After a clean close, the index as a checkpoint for the next open (storage/index-checkpoint.ts):
   * only when every event is durable and the log failed nowhere. A checkpoint that cannot be written
   * costs the next open a full scan, nothing else.
   */
  private writeCheckpoint(): void {
    const mark = this.log instanceof FileEventLog ? this.log.mark() : undefined;
    if (mark === undefined || this.dataDir === undefined) return;
    if (this.pendingRecords.length > 0 || this.durableCount !== this.index.count) return;
    const index = this.index.checkpoint();
    const ids = this.recentIds.checkpoint();
    try {
      writeIndexCheckpoint(this.dataDir, {
        mark,
        header: {
          version: CHECKPOINT_VERSION,
          count: this.index.count,
          streams: index.streams,
          types: index.types,
          ringNext: ids.ringNext,
          projections: this.projections.checkpoint(),
        },
        arrays: [...index.arrays, ...ids.arrays],
      });
    } catch {
      removeIndexCheckpoint(this.dataDir);
    }
  }

  /** Takes the index, the id window and the standard projections' views back from a checkpoint. */
  private restoreCheckpoint(checkpoint: IndexCheckpoint): void {
    const header = checkpoint.header as {
      version: number;
      count: number;
      streams: { name: string; meta?: Record<string, unknown> }[];
      types: string[];
      ringNext: number;
      projections: { name: string; enabled: boolean; recorded: boolean; checkpoint: number }[];
    };
    const idArrays = checkpoint.arrays.slice(INDEX_ARRAYS);
    if (header.version !== CHECKPOINT_VERSION || !this.recentIds.fits(idArrays, header.ringNext)) {
      throw new Error('index checkpoint: another version');
    }
    const indexArrays = checkpoint.arrays.slice(0, INDEX_ARRAYS);
    this.index.restore(header.count, indexArrays, header.streams, header.types, (st, raw) => {
      st.writeMeta = parseStreamMetadata(Buffer.from(JSON.stringify(raw), 'utf8')).meta;
      st.rawMetaJson = raw;
    });
    this.recentIds.restore(idArrays, header.ringNext);
    this.projections.restore(header.projections);
  }
}

function metadataEvent(json: Buffer): NewEvent {
  return {
    id: randomUUID(),
    type: '$metadata',
    contentType: JSON_CONTENT_TYPE,
    data: json,
    customMetadata: new Uint8Array(0),
  };
}
