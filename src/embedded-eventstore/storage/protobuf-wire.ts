/**
 * Just enough of the protobuf wire format to build and parse the few messages that sit on
 * the hot paths (stored RecordedEvent entries, ReadResp frames) without allocating a
 * google-protobuf object per event.
 */

export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative integer below 2^53 as a varint; returns the next offset. */
export function writeVarint(buf: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

export function bigVarintBytes(value: bigint): Buffer {
  const bytes: number[] = [];
  while (value >= 0x80n) {
    bytes.push(Number(value & 0x7fn) | 0x80);
    value >>= 7n;
  }
  bytes.push(Number(value));
  return Buffer.from(bytes);
}

/** A growable byte sink for building one message; small and reused across calls. */
export class ProtoWriter {
  private buf: Buffer;
  length = 0;

  constructor(initial = 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  reset(): void {
    this.length = 0;
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  varint(value: number): void {
    this.ensure(10);
    this.length = writeVarint(this.buf, this.length, value);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  uint64Field(field: number, value: number | bigint): void {
    this.tag(field, 0);
    if (typeof value === 'bigint') this.raw(bigVarintBytes(value));
    else this.varint(value);
  }

  bytesField(field: number, bytes: Uint8Array): void {
    this.tag(field, 2);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  stringField(field: number, value: string): void {
    const len = Buffer.byteLength(value);
    this.tag(field, 2);
    this.varint(len);
    this.ensure(len);
    this.buf.write(value, this.length, 'utf8');
    this.length += len;
  }

  /** Starts a length-delimited field whose size is not known yet; pair with endMessage. */
  beginMessage(field: number): number {
    this.tag(field, 2);
    // Reserve the widest length prefix we allow (4 bytes, messages < 256 MiB).
    this.ensure(4);
    const at = this.length;
    this.length += 4;
    return at;
  }

  endMessage(at: number): void {
    const size = this.length - at - 4;
    const prefix = varintSize(size);
    if (prefix < 4) {
      this.buf.copy(this.buf, at + prefix, at + 4, this.length);
      this.length -= 4 - prefix;
    }
    writeVarint(this.buf, at, size);
  }

  /** Reserves `bytes` to be filled later (see patchUInt32LE); returns their offset. */
  reserve(bytes: number): number {
    this.ensure(bytes);
    const at = this.length;
    this.length += bytes;
    return at;
  }

  patchUInt32LE(at: number, value: number): void {
    this.buf.writeUInt32LE(value, at);
  }

  /** A copy of what was written, so the writer can be reused at once. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

/** Sequential reader over one message's fields. */
export class ProtoReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let factor = 1;
    for (;;) {
      const byte = this.buf[this.pos++];
      result += (byte & 0x7f) * factor;
      if (byte < 0x80) return result;
      factor *= 128;
    }
  }

  bigVarint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.buf[this.pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
    }
  }

  /** Returns [start, end) of a length-delimited field's payload and skips past it. */
  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    return [start, start + len];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        return;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        this.pos += 4;
        return;
      default:
        throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
  }
}
