import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Connection, PoolClient, Submittable } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

export type CopyValue = string | number | bigint | null;

/**
 * Rows for `COPY … FROM STDIN` in PostgreSQL's text format, built as one string: the fastest way to
 * put a batch into a table (about 1.4× a multi-row INSERT of the same rows here, docs/read-model.md).
 * COPY cannot skip conflicting rows, so it is for rows known to be new (the runner's checkpoint row
 * guarantees it for projections).
 */
export class CopyRows {
  private text = '';
  private count = 0;

  constructor(
    readonly table: string,
    readonly columns: readonly string[],
  ) {}

  add(...values: CopyValue[]): void {
    let line = '';
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (i > 0) line += '\t';
      line += value === null ? '\\N' : typeof value === 'string' ? escapeText(value) : String(value);
    }
    this.text += `${line}\n`;
    this.count++;
  }

  async copy(client: PoolClient): Promise<void> {
    if (this.count === 0) return;
    const sql = `COPY ${this.table} (${this.columns.join(', ')}) FROM STDIN`;
    await pipeline(Readable.from([this.text]), client.query(copyFrom(sql)));
  }
}

const SPECIAL = /[\\\t\n\r]/;

/** Backslash, tab, newline and carriage return are the text format's own characters. */
function escapeText(value: string): string {
  if (!SPECIAL.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/**
 * `COPY (…) TO STDOUT` on `client`: the bytes the server sent, in one buffer; no string is made of
 * them. With `buffers`, they are copied as they arrive into a buffer taken from there, which the caller
 * gives back once it is done with the answer (`CopyBuffers`); without, into a new one.
 */
export function copyOut(client: PoolClient, sql: string, buffers?: CopyBuffers): Promise<Buffer> {
  const query = new CopyOutQuery(sql, buffers ?? new CopyBuffers(0));
  client.query(query);
  return query.result;
}

/** The protocol's message codes that matter during COPY OUT (PostgreSQL's "Message Formats"). */
const COPY_DATA = 0x64; // d
/** Messages the server may send between CopyData messages; any other (CopyDone, an error) ends the copy. */
const INTERSPERSED = new Set([0x48 /* H CopyOutResponse */, 0x53 /* S */, 0x4e /* N */, 0x41 /* A */]);
/** Payloads up to this size are copied byte by byte: cheaper than a call into `Buffer.copy`. */
const SMALL_COPY = 48;

type DataHandler = (data: Buffer) => void;

/**
 * A `pg` submittable that reads the connection's socket itself during the copy, as `pg-copy-streams`
 * does, but writes each CopyData message's content straight into one growing buffer instead of
 * making a buffer per message and a stream of them: a report's rows are a message each (~20 bytes),
 * and taking 54,562 of them through `pg-copy-streams` cost the API's thread 22–27 ms of CPU, beside
 * PostgreSQL's ~56 ms for producing them (decision 88). At the first message that is not part of the
 * copy's stream (CopyDone, or the server's error), the socket goes back to `pg`'s own parser with every
 * byte from that message on, and the query settles when `pg` says the connection is ready again (or
 * with the server's error).
 */
class CopyOutQuery implements Submittable {
  readonly result: Promise<Buffer>;
  private resolve!: (rows: Buffer) => void;
  private reject!: (error: Error) => void;
  private connection: Connection | null = null;
  private pgHandler: DataHandler | null = null;
  private readonly onData: DataHandler = (data) => this.parse(data);
  private target: Buffer;
  private used = 0;
  /** A message header (code and length) split between two reads of the socket. */
  private readonly header = Buffer.alloc(5);
  private headerUsed = 0;
  private code = 0;
  /** Bytes of the current message's content still to come. */
  private remaining = 0;
  private settled = false;

  constructor(
    private readonly text: string,
    private readonly buffers: CopyBuffers,
  ) {
    this.target = buffers.take();
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** An error returned here is `pg`'s to report: it settles the query with it and frees the connection. */
  submit(connection: Connection): Error | undefined {
    const listeners = connection.stream.listeners('data') as DataHandler[];
    if (listeners.length !== 1) {
      return new Error(`COPY needs pg's one socket reader, found ${listeners.length}`);
    }
    this.connection = connection;
    this.pgHandler = listeners[0];
    connection.stream.removeListener('data', this.pgHandler);
    connection.stream.on('data', this.onData);
    connection.query(this.text);
    return undefined;
  }

  private parse(data: Buffer): void {
    const length = data.length;
    let i = 0;
    while (i < length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, length - i);
        if (this.code === COPY_DATA) this.append(data, i, n);
        i += n;
        this.remaining -= n;
        continue;
      }
      if (this.headerUsed === 0) {
        // The common case, one message after the other within this read: copied without leaving the loop.
        i = this.whole(data, i);
        if (i >= length) return;
      }
      while (this.headerUsed < 5 && i < length) this.header[this.headerUsed++] = data[i++];
      if (this.headerUsed < 5) return;
      this.headerUsed = 0;
      this.code = this.header[0];
      this.remaining = this.header.readUInt32BE(1) - 4;
      if (this.code !== COPY_DATA && !INTERSPERSED.has(this.code)) {
        // The copy's end (CopyDone, or the server's error): `pg` reads the rest, from this header on,
        // and settles the query.
        return this.detach(Buffer.concat([this.header, data.subarray(i)]));
      }
    }
  }

  /**
   * Copies the content of the whole CopyData messages from `i` on, skips interspersed ones, and
   * returns where the first message it did not take starts: one cut by the end of the read (its header
   * or its content, left to `parse`), or the copy's end (handed back to `pg` here, returning the
   * read's length).
   */
  private whole(data: Buffer, i: number): number {
    const length = data.length;
    let target = this.target;
    let used = this.used;
    while (i + 5 <= length) {
      const code = data[i];
      const size = ((data[i + 1] << 24) | (data[i + 2] << 16) | (data[i + 3] << 8) | data[i + 4]) - 4;
      if (code !== COPY_DATA) {
        if (!INTERSPERSED.has(code)) {
          this.target = target;
          this.used = used;
          this.detach(data.subarray(i));
          return length;
        }
        if (i + 5 + size > length) break;
        i += 5 + size;
        continue;
      }
      if (i + 5 + size > length) break;
      if (used + size > target.length) target = this.buffers.larger(target, used, used + size);
      const from = i + 5;
      if (size <= SMALL_COPY) {
        for (let k = 0; k < size; k++) target[used + k] = data[from + k];
        used += size;
      } else {
        used += data.copy(target, used, from, from + size);
      }
      i = from + size;
    }
    this.target = target;
    this.used = used;
    return i;
  }

  /** Part of a CopyData message's content, from a read that holds only part of it. */
  private append(data: Buffer, from: number, n: number): void {
    if (this.used + n > this.target.length) {
      this.target = this.buffers.larger(this.target, this.used, this.used + n);
    }
    this.used += data.copy(this.target, this.used, from, from + n);
  }

  /** The socket back to `pg`, with what it holds after the copy (the server's answer to the end). */
  private detach(rest: Buffer): void {
    const { connection, pgHandler } = this;
    if (!connection || !pgHandler) return;
    this.connection = null;
    this.pgHandler = null;
    connection.stream.removeListener('data', this.onData);
    connection.stream.on('data', pgHandler);
    if (rest.length > 0) pgHandler(rest);
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(this.target.subarray(0, this.used));
  }

  handleError(error: Error): void {
    this.detach(Buffer.alloc(0));
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}

/**
 * Buffers kept for copies of large answers, so that each one does not allocate new memory outside
 * the JavaScript heap: V8 counts every new buffer towards its next full collection, and each of those
 * marks the whole heap, which holds the ledger states of the parents in use (for a parent of 100,000
 * sub-accounts, ~200 MB). A usage report of 6.7 MB a request made one every ~9 requests, ~28 ms of CPU
 * a request (decision 75). At most `maxKeptBytes` are kept; a buffer not given back (its answer
 * failed) is simply collected.
 */
export class CopyBuffers {
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  /** The memory of every buffer made here: only those are ever kept. */
  private readonly made = new WeakSet<ArrayBufferLike>();

  constructor(private readonly maxKeptBytes: number) {}

  /** A kept buffer (the largest), or an empty one that `copyOut` replaces with one large enough. */
  take(): Buffer {
    const buffer = this.kept.pop();
    if (buffer === undefined) return EMPTY;
    this.keptBytes -= buffer.length;
    return buffer;
  }

  /** A buffer of at least `needed` bytes (with room to grow) holding the first `used` of `current`. */
  larger(current: Buffer, used: number, needed: number): Buffer {
    const larger = Buffer.allocUnsafeSlow(Math.ceil((needed * 1.5) / GROWTH) * GROWTH);
    this.made.add(larger.buffer);
    current.copy(larger, 0, 0, used);
    return larger;
  }

  /**
   * Gives back what `copyOut` answered (a view of a buffer it took or made) once nothing reads it any
   * more: for an HTTP answer, once the response has finished (its bytes handed to the socket).
   */
  give(answer: Buffer): void {
    if (!this.made.has(answer.buffer)) return;
    const whole = Buffer.from(answer.buffer, 0, answer.buffer.byteLength);
    if (
      this.keptBytes + whole.length > this.maxKeptBytes ||
      this.kept.some((kept) => kept.buffer === whole.buffer)
    )
      return;
    this.kept.push(whole);
    this.kept.sort((a, b) => a.length - b.length);
    this.keptBytes += whole.length;
  }

  /** How many bytes are kept now (tests). */
  get bytes(): number {
    return this.keptBytes;
  }
}

const EMPTY = Buffer.alloc(0);
const GROWTH = 64 * 1024;
