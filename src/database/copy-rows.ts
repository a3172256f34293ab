import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

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
export async function copyOut(client: PoolClient, sql: string, buffers?: CopyBuffers): Promise<Buffer> {
  if (buffers === undefined) {
    const chunks: Buffer[] = [];
    for await (const chunk of client.query(copyTo(sql))) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  let target = buffers.take();
  let used = 0;
  for await (const chunk of client.query(copyTo(sql)) as AsyncIterable<Buffer>) {
    if (used + chunk.length > target.length) target = buffers.larger(target, used, used + chunk.length);
    used += chunk.copy(target, used);
  }
  return target.subarray(0, used);
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
