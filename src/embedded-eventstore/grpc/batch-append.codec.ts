import { ProtoReader } from '../storage/protobuf-wire';
import { NewEvent } from '../storage/recorded-event.codec';
import { EXPECTED_ANY, EXPECTED_NO_STREAM, EXPECTED_STREAM_EXISTS } from '../engine/event-store.engine';

/**
 * A direct decoder for `BatchAppendReq`, the append hot path: google-protobuf builds several
 * objects and a map per proposed event, this reads the fields straight into `NewEvent`s whose
 * data and metadata are views of the request buffer.
 *
 *   BatchAppendReq  { 1: UUID correlation_id, 2: Options, 3: ProposedMessage*, 4: bool is_final }
 *   Options         { 1: StreamIdentifier, 2: uint64 stream_position, 3: no_stream, 4: any,
 *                     5: stream_exists, 6: Timestamp deadline }
 *   ProposedMessage { 1: UUID id, 2: map<string,string> metadata, 3: bytes custom_metadata, 4: bytes data }
 *   UUID            { 1: Structured { 1: int64 msb, 2: int64 lsb }, 2: string }
 */

export interface BatchAppendOptions {
  streamName: string;
  expected: number;
  deadlineMs: number | undefined;
}

export interface BatchAppendRequest {
  correlationId: string;
  /** The correlation UUID message as received, echoed back in the response. */
  correlationIdBytes: Buffer;
  options: BatchAppendOptions | undefined;
  events: NewEvent[];
  /** The first required metadata property a proposed message lacked, if any. */
  missingProperty: string | undefined;
  isFinal: boolean;
}

export function decodeBatchAppendReq(buf: Buffer): BatchAppendRequest {
  const out: BatchAppendRequest = {
    correlationId: '',
    correlationIdBytes: Buffer.alloc(0),
    options: undefined,
    events: [],
    missingProperty: undefined,
    isFinal: false,
  };
  const r = new ProtoReader(buf);
  while (!r.done()) {
    const key = r.varint();
    switch (key) {
      case (1 << 3) | 2: {
        const [s, e] = r.lengthDelimited();
        out.correlationIdBytes = buf.subarray(s, e);
        out.correlationId = decodeUuid(buf, s, e);
        break;
      }
      case (2 << 3) | 2: {
        const [s, e] = r.lengthDelimited();
        out.options = decodeOptions(buf, s, e);
        break;
      }
      case (3 << 3) | 2: {
        const [s, e] = r.lengthDelimited();
        const event = decodeProposed(buf, s, e);
        if (typeof event === 'string') out.missingProperty ??= event;
        else out.events.push(event);
        break;
      }
      case (4 << 3) | 0:
        out.isFinal = r.varint() !== 0;
        break;
      default:
        r.skip(key & 7);
    }
  }
  return out;
}

function decodeOptions(buf: Buffer, start: number, end: number): BatchAppendOptions {
  const out: BatchAppendOptions = { streamName: '', expected: EXPECTED_ANY, deadlineMs: undefined };
  const r = new ProtoReader(buf, start, end);
  while (!r.done()) {
    const key = r.varint();
    const field = key >>> 3;
    if (field === 2 && (key & 7) === 0) {
      out.expected = r.varint();
      continue;
    }
    if ((key & 7) !== 2) {
      r.skip(key & 7);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    switch (field) {
      case 1:
        out.streamName = stringField(buf, s, e, 3);
        break;
      case 3:
        out.expected = EXPECTED_NO_STREAM;
        break;
      case 4:
        out.expected = EXPECTED_ANY;
        break;
      case 5:
        out.expected = EXPECTED_STREAM_EXISTS;
        break;
      case 6: {
        const t = new ProtoReader(buf, s, e);
        let seconds = 0;
        let nanos = 0;
        while (!t.done()) {
          const k = t.varint();
          if (k === 0x08) seconds = t.varint();
          else if (k === 0x10) nanos = t.varint();
          else t.skip(k & 7);
        }
        out.deadlineMs = seconds * 1000 + Math.floor(nanos / 1e6);
        break;
      }
    }
  }
  return out;
}

function decodeProposed(buf: Buffer, start: number, end: number): NewEvent | string {
  let id = '';
  let type: string | undefined;
  let contentType: string | undefined;
  let data = buf.subarray(0, 0);
  let customMetadata = buf.subarray(0, 0);
  const r = new ProtoReader(buf, start, end);
  while (!r.done()) {
    const key = r.varint();
    if ((key & 7) !== 2) {
      r.skip(key & 7);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    switch (key >>> 3) {
      case 1:
        id = decodeUuid(buf, s, e);
        break;
      case 2: {
        const m = new ProtoReader(buf, s, e);
        let k = '';
        let v = '';
        while (!m.done()) {
          const t = m.varint();
          const [a, b] = m.lengthDelimited();
          if (t >>> 3 === 1) k = buf.toString('utf8', a, b);
          else v = buf.toString('utf8', a, b);
        }
        if (k === 'type') type = v;
        else if (k === 'content-type') contentType = v;
        break;
      }
      case 3:
        customMetadata = buf.subarray(s, e);
        break;
      case 4:
        data = buf.subarray(s, e);
        break;
    }
  }
  if (type === undefined) return 'type';
  if (contentType === undefined) return 'content-type';
  return { id, type, contentType, data, customMetadata };
}

function stringField(buf: Buffer, start: number, end: number, field: number): string {
  const r = new ProtoReader(buf, start, end);
  while (!r.done()) {
    const key = r.varint();
    if (key === ((field << 3) | 2)) {
      const [s, e] = r.lengthDelimited();
      return buf.toString('utf8', s, e);
    }
    r.skip(key & 7);
  }
  return '';
}

function decodeUuid(buf: Buffer, start: number, end: number): string {
  const r = new ProtoReader(buf, start, end);
  while (!r.done()) {
    const key = r.varint();
    if (key === ((2 << 3) | 2)) {
      const [s, e] = r.lengthDelimited();
      return buf.toString('utf8', s, e).toLowerCase();
    }
    if (key === ((1 << 3) | 2)) {
      const [s, e] = r.lengthDelimited();
      const st = new ProtoReader(buf, s, e);
      let hi = 0n;
      let lo = 0n;
      while (!st.done()) {
        const k = st.varint();
        if (k === 0x08) hi = BigInt.asUintN(64, st.bigVarint());
        else if (k === 0x10) lo = BigInt.asUintN(64, st.bigVarint());
        else st.skip(k & 7);
      }
      return hexUuid(hi, lo);
    }
    r.skip(key & 7);
  }
  return '';
}

export function hexUuid(hi: bigint, lo: bigint): string {
  const hex = hi.toString(16).padStart(16, '0') + lo.toString(16).padStart(16, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
