import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import type { LastRecord, LogMark } from './index-checkpoint';
import { ProtoWriter } from './protobuf-wire';

/**
 * The append-only log. One file, `events.log`: a 16-byte magic header, then records.
 *
 *   record := u32le bodyLength | u32le crc32(body) | body
 *   body   := u8 kind (1 = events) | u32le entryCount | entry*
 *   entry  := u32le length | RecordedEvent protobuf bytes
 *
 * A record is one append (or delete/tombstone), so an append is all-or-nothing on disk: a
 * torn or corrupt record fails its checksum and recovery cuts the file there. The position of
 * an event is the file offset of its entry, so positions only grow and never move.
 */

export const EVENT_LOG_FILE = 'events.log';
export const LOG_MAGIC = Buffer.from('SUBLEDGER-ESLOG1', 'latin1');
export const RECORD_HEADER_SIZE = 8;
export const BODY_HEADER_SIZE = 5;
export const ENTRY_HEADER_SIZE = 4;
export const RECORD_KIND_EVENTS = 1;
/** Far above the largest append we accept; anything bigger is corruption, not data. */
const MAX_RECORD_BODY = 64 * 1024 * 1024;
const SCAN_CHUNK = 8 * 1024 * 1024;

export type FlushCallback = (error: Error | null) => void;

/** Makes the bytes written to `fd` durable, then calls back: `fs.fdatasync`, the default. */
export type FileSync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

export interface FileEventLogOptions {
  /** A seam for tests: one that holds the sync open shows that nothing is acknowledged before it returns. */
  sync?: FileSync;
}

export interface EventLog {
  /** Offset where the next record will start. */
  readonly end: number;
  /** Queues a framed record; `done` runs once its bytes are durable (or failed). */
  append(record: Buffer, done: FlushCallback): void;
  /** Called after each group of appends became durable, after their `done` callbacks. */
  onFlushed: () => void;
  /** Bytes [start, end) of durable records. */
  read(start: number, end: number): Buffer;
  close(): Promise<void>;
}

/** Frames entries (each already encoded for its final position) into one record. */
export function frameRecord(entries: Buffer[]): Buffer {
  let bodyLength = BODY_HEADER_SIZE;
  for (const e of entries) bodyLength += ENTRY_HEADER_SIZE + e.length;
  const record = Buffer.allocUnsafe(RECORD_HEADER_SIZE + bodyLength);
  let at = RECORD_HEADER_SIZE;
  record[at++] = RECORD_KIND_EVENTS;
  record.writeUInt32LE(entries.length, at);
  at += 4;
  for (const e of entries) {
    record.writeUInt32LE(e.length, at);
    e.copy(record, at + ENTRY_HEADER_SIZE);
    at += ENTRY_HEADER_SIZE + e.length;
  }
  record.writeUInt32LE(bodyLength, 0);
  record.writeUInt32LE(crc32(record.subarray(RECORD_HEADER_SIZE)), 4);
  return record;
}

/**
 * Builds one events record in place, as `frameRecord` frames it: each entry is encoded straight into
 * the record (`beginEntry`, write to `writer`, `endEntry`), and `finish` copies the whole record out
 * once. An append of N events thus makes one buffer instead of N entry buffers plus the frame, which
 * is most of the store's garbage on the append path. Reused across records; not reentrant.
 */
export class RecordBuilder {
  readonly writer = new ProtoWriter(256 * 1024);
  /** Offset in the record of each entry's length prefix. */
  private readonly entryAt: number[] = [];
  private openEntry = -1;

  begin(): void {
    this.writer.reset();
    this.entryAt.length = 0;
    this.writer.reserve(RECORD_HEADER_SIZE + BODY_HEADER_SIZE);
  }

  /** Offset, from the start of the record, where the next entry's length prefix goes. */
  get length(): number {
    return this.writer.length;
  }

  beginEntry(): void {
    this.openEntry = this.writer.reserve(ENTRY_HEADER_SIZE);
  }

  /** Closes the entry written since `beginEntry`; returns its length (without the prefix). */
  endEntry(): number {
    const at = this.openEntry;
    const length = this.writer.length - at - ENTRY_HEADER_SIZE;
    this.writer.patchUInt32LE(at, length);
    this.entryAt.push(at);
    this.openEntry = -1;
    return length;
  }

  /** The framed, checksummed record. */
  finish(): Buffer {
    const record = this.writer.toBuffer();
    record.writeUInt32LE(record.length - RECORD_HEADER_SIZE, 0);
    record[RECORD_HEADER_SIZE] = RECORD_KIND_EVENTS;
    record.writeUInt32LE(this.entryAt.length, RECORD_HEADER_SIZE + 1);
    record.writeUInt32LE(crc32(record.subarray(RECORD_HEADER_SIZE)), 4);
    return record;
  }

  /** Offset in the last finished record of each entry's length prefix (a copy, kept by the caller). */
  entryOffsets(): number[] {
    return this.entryAt.slice();
  }
}

export type EntryVisitor = (position: number, buf: Buffer, start: number, end: number) => void;

function visitEntries(
  buf: Buffer,
  bodyStart: number,
  bodyEnd: number,
  fileOffsetOfBuf: number,
  visit: EntryVisitor,
): void {
  if (buf[bodyStart] !== RECORD_KIND_EVENTS) return;
  const count = buf.readUInt32LE(bodyStart + 1);
  let at = bodyStart + BODY_HEADER_SIZE;
  for (let i = 0; i < count && at < bodyEnd; i++) {
    const len = buf.readUInt32LE(at);
    visit(fileOffsetOfBuf + at, buf, at + ENTRY_HEADER_SIZE, at + ENTRY_HEADER_SIZE + len);
    at += ENTRY_HEADER_SIZE + len;
  }
}

interface PendingWrite {
  record: Buffer;
  done: FlushCallback;
}

export class FileEventLog implements EventLog {
  end: number;
  onFlushed: () => void = () => undefined;
  private written: number;
  private queue: PendingWrite[] = [];
  private flushing = false;
  private scheduled = false;
  private closed = false;
  private failure: Error | null = null;
  /** The last durable record. */
  private lastRecord: LastRecord | undefined;
  private idleWaiters: (() => void)[] = [];

  private constructor(
    private readonly fd: number,
    end: number,
    private readonly sync: FileSync,
  ) {
    this.end = end;
    this.written = end;
  }

  /**
   * Opens (or creates) the log, replays every intact record through `visit`, and cuts a torn
   * or corrupt tail so the next append starts on a clean boundary.
   */
  static open(
    dataDir: string,
    visit: EntryVisitor,
    options: FileEventLogOptions = {},
    resume?: Resume,
  ): { log: FileEventLog; truncatedBytes: number; resumed: boolean } {
    const sync = options.sync ?? fs.fdatasync;
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, EVENT_LOG_FILE);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT);
    const size = fs.fstatSync(fd).size;
    if (size < LOG_MAGIC.length) {
      // A new log (or one torn before its header was durable): start afresh.
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, LOG_MAGIC, 0, LOG_MAGIC.length, 0);
      fs.fsyncSync(fd);
      syncDirectory(dataDir);
      return { log: new FileEventLog(fd, LOG_MAGIC.length, sync), truncatedBytes: size, resumed: false };
    }
    const header = Buffer.alloc(LOG_MAGIC.length);
    fs.readSync(fd, header, 0, header.length, 0);
    if (!header.equals(LOG_MAGIC)) {
      fs.closeSync(fd);
      throw new Error(`${file} is not a Subledger event log (bad magic header)`);
    }
    // A checkpoint of the index is used only if the log still ends, at the checkpoint's end, with the
    // intact record it names (`endsWith`): the log only ever grows at its end. The records before that
    // one are checked later, in the background (`checkedEnd`, the engine's verification), as a real
    // node verifies its chunks' hashes after it opened them.
    let resumed = resume !== undefined && endsWith(fd, size, resume.mark);
    if (resumed) {
      try {
        resume!.restore();
      } catch {
        // A checkpoint that does not fit (another version, wrong sizes): the full scan it saves.
        resumed = false;
      }
    }
    const scan = scanRecords(
      fd,
      size,
      (buf, bodyStart, bodyEnd, bufStart) => visitEntries(buf, bodyStart, bodyEnd, bufStart, visit),
      resumed ? resume!.mark : undefined,
    );
    const validEnd = scan.end;
    if (validEnd < size) {
      fs.ftruncateSync(fd, validEnd);
      fs.fsyncSync(fd);
    }
    const log = new FileEventLog(fd, validEnd, sync);
    log.lastRecord = scan.lastRecord;
    return { log, truncatedBytes: size - validEnd, resumed };
  }

  /**
   * A record found damaged after the open (the background verification): nothing more is appended on
   * top of it, and no checkpoint is written at close, so the next open scans the whole log.
   */
  damaged(error: Error): void {
    this.failure ??= error;
  }

  /** Where the log stands, for a checkpoint of the index: only once closed cleanly, with nothing failed. */
  mark(): LogMark | undefined {
    if (!this.closed || this.failure || this.written !== this.end || this.lastRecord === undefined) {
      return undefined;
    }
    return { end: this.written, ...this.lastRecord };
  }

  append(record: Buffer, done: FlushCallback): void {
    if (this.closed || this.failure) {
      const err = this.failure ?? new Error('event log is closed');
      process.nextTick(done, err);
      return;
    }
    this.end += record.length;
    this.queue.push({ record, done });
    if (!this.flushing && !this.scheduled) {
      // Let every append that arrives in this turn of the event loop share one fsync.
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.flushing || this.queue.length === 0) {
      if (!this.flushing) this.notifyIdle();
      return;
    }
    this.flushing = true;
    const batch = this.queue;
    this.queue = [];
    const buffers = batch.map((p) => p.record);
    const at = this.written;
    let bytes = 0;
    for (const b of buffers) bytes += b.length;
    fs.writev(this.fd, buffers, at, (writeErr, n) => {
      const err = writeErr ?? (n !== bytes ? new Error(`short write: ${n} of ${bytes}`) : null);
      if (err) return this.finishFlush(batch, err);
      this.sync(this.fd, (syncErr) => {
        if (!syncErr) {
          this.written = at + bytes;
          const last = buffers[buffers.length - 1];
          this.lastRecord = {
            lastRecordStart: this.written - last.length,
            lastRecordChecksum: last.readUInt32LE(4),
          };
        }
        this.finishFlush(batch, syncErr);
      });
    });
  }

  private finishFlush(batch: PendingWrite[], err: Error | null): void {
    if (err) {
      // After a failed write or fsync we cannot know what reached the disk; refuse all
      // further writes so nothing is acknowledged on top of a hole.
      this.failure = err;
    }
    for (const p of batch) p.done(err);
    this.flushing = false;
    if (!err) this.onFlushed();
    if (this.failure) {
      const rest = this.queue;
      this.queue = [];
      for (const p of rest) p.done(this.failure);
    }
    this.flush();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  read(start: number, end: number): Buffer {
    const buf = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(this.fd, buf, got, buf.length - got, start + got);
      if (n === 0) throw new Error(`unexpected end of event log at ${start + got}`);
      got += n;
    }
    return buf;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushing || this.scheduled || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await new Promise<void>((resolve) => fs.fsync(this.fd, () => resolve()));
    await new Promise<void>((resolve) => fs.close(this.fd, () => resolve()));
  }
}

function syncDirectory(dir: string): void {
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the file itself was fsync'd.
  }
}

/**
 * Walks the intact records from `from` (a checkpoint's end) or the start, each through `visit` when
 * given: the offset just past the last intact record, and where that record starts with its checksum.
 */
function scanRecords(
  fd: number,
  size: number,
  visit: ((buf: Buffer, bodyStart: number, bodyEnd: number, bufStart: number) => void) | undefined,
  from?: LogMark,
): { end: number; lastRecord?: LastRecord } {
  let buf = Buffer.allocUnsafe(SCAN_CHUNK);
  let bufStart = 0;
  let bufLen = 0;
  let pos = from?.end ?? LOG_MAGIC.length;
  // Numbers, not an object a record: a full scan walks millions of them.
  let lastStart = from?.lastRecordStart ?? -1;
  let lastChecksum = from?.lastRecordChecksum ?? 0;
  const fill = (from: number, need: number): boolean => {
    if (from + need > size) return false;
    if (from >= bufStart && from + need <= bufStart + bufLen) return true;
    const want = Math.min(Math.max(SCAN_CHUNK, need), size - from);
    if (buf.length < want) buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = fs.readSync(fd, buf, got, want - got, from + got);
      if (n === 0) break;
      got += n;
    }
    bufStart = from;
    bufLen = got;
    return got >= need;
  };
  while (pos < size) {
    if (!fill(pos, RECORD_HEADER_SIZE)) break;
    const h = pos - bufStart;
    const bodyLength = buf.readUInt32LE(h);
    const checksum = buf.readUInt32LE(h + 4);
    if (bodyLength < BODY_HEADER_SIZE || bodyLength > MAX_RECORD_BODY) break;
    if (!fill(pos, RECORD_HEADER_SIZE + bodyLength)) break;
    const bodyStart = pos - bufStart + RECORD_HEADER_SIZE;
    const bodyEnd = bodyStart + bodyLength;
    if (crc32(buf.subarray(bodyStart, bodyEnd)) !== checksum) break;
    visit?.(buf, bodyStart, bodyEnd, bufStart);
    lastStart = pos;
    lastChecksum = checksum;
    pos += RECORD_HEADER_SIZE + bodyLength;
  }
  return {
    end: pos,
    lastRecord: lastStart < 0 ? undefined : { lastRecordStart: lastStart, lastRecordChecksum: lastChecksum },
  };
}

/** A checkpoint of the index to start from: where it stops, and how to take it back. */
export interface Resume {
  readonly mark: LogMark;
  readonly restore: () => void;
}

/**
 * Whether the log still has, ending exactly at `mark.end`, the intact record `mark` names: its length,
 * its checksum as written in the checkpoint, and its body against that checksum. Constant time; what
 * lies before it is `checkedEnd`'s to check.
 */
function endsWith(fd: number, size: number, mark: LogMark): boolean {
  const length = mark.end - mark.lastRecordStart;
  if (mark.end > size || length < RECORD_HEADER_SIZE || length > RECORD_HEADER_SIZE + MAX_RECORD_BODY) {
    return false;
  }
  const record = Buffer.allocUnsafe(length);
  if (fs.readSync(fd, record, 0, record.length, mark.lastRecordStart) !== record.length) return false;
  const body = record.subarray(RECORD_HEADER_SIZE);
  return (
    record.readUInt32LE(0) === body.length &&
    record.readUInt32LE(4) === mark.lastRecordChecksum &&
    crc32(body) === mark.lastRecordChecksum
  );
}

/**
 * How far the records of `file` are intact, checking each one's checksum from the first up to `end`
 * (nothing is parsed): `end` itself when all are, else where the first damaged record starts.
 */
export function checkedEnd(file: string, end: number): number {
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  try {
    return scanRecords(fd, Math.min(end, fs.fstatSync(fd).size), undefined).end;
  } finally {
    fs.closeSync(fd);
  }
}

/** Same contract without files: records live in memory and are "durable" next tick. */
export class MemoryEventLog implements EventLog {
  end = LOG_MAGIC.length;
  onFlushed: () => void = () => undefined;
  private starts: number[] = [];
  private records: Buffer[] = [];
  private queue: PendingWrite[] = [];
  private scheduled = false;

  append(record: Buffer, done: FlushCallback): void {
    this.starts.push(this.end);
    this.records.push(record);
    this.end += record.length;
    this.queue.push({ record, done });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const batch = this.queue;
        this.queue = [];
        for (const p of batch) p.done(null);
        this.onFlushed();
      });
    }
  }

  read(start: number, end: number): Buffer {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= start) lo = mid;
      else hi = mid - 1;
    }
    const first = this.records[lo];
    const offset = start - this.starts[lo];
    if (offset + (end - start) <= first.length) return first.subarray(offset, offset + end - start);
    const parts: Buffer[] = [first.subarray(offset)];
    let have = first.length - offset;
    for (let i = lo + 1; have < end - start; i++) {
      const r = this.records[i];
      const take = Math.min(r.length, end - start - have);
      parts.push(r.subarray(0, take));
      have += take;
    }
    return Buffer.concat(parts);
  }

  async close(): Promise<void> {
    if (this.queue.length > 0 || this.scheduled) await new Promise((r) => setImmediate(r));
  }
}
