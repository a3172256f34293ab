import { ProtoReader, ProtoWriter } from './protobuf-wire';

/**
 * Each stored event is kept exactly as the protobuf `ReadResp.ReadEvent.RecordedEvent` the
 * server sends for it (uuid as string, positions filled in), so a read only wraps stored
 * bytes in a two-level frame instead of re-encoding anything.
 */

/** EventStoreDB's revision of a tombstone ($streamDeleted): long.MaxValue. */
export const TOMBSTONE_REVISION = 9223372036854775807n;

export interface NewEvent {
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  customMetadata: Uint8Array;
}

export interface ParsedEntry {
  id: string;
  streamName: string;
  /** -1 for a tombstone (its wire revision is long.MaxValue). */
  revision: number;
  type: string;
  contentType: string;
  createdTicks: string;
  dataStart: number;
  dataEnd: number;
  metadataStart: number;
  metadataEnd: number;
}

const writer = new ProtoWriter(64 * 1024);

export function encodeRecordedEvent(
  streamName: string,
  revision: number | bigint,
  position: number,
  createdTicks: string,
  event: NewEvent,
): Buffer {
  writer.reset();
  writeRecordedEvent(writer, streamName, revision, position, createdTicks, event);
  return writer.toBuffer();
}

/** Appends the RecordedEvent message to `writer` (the append path writes it straight into its record). */
export function writeRecordedEvent(
  writer: ProtoWriter,
  streamName: string,
  revision: number | bigint,
  position: number,
  createdTicks: string,
  event: NewEvent,
): void {
  const idAt = writer.beginMessage(1);
  writer.stringField(2, event.id);
  writer.endMessage(idAt);
  const streamAt = writer.beginMessage(2);
  writer.stringField(3, streamName);
  writer.endMessage(streamAt);
  writer.uint64Field(3, revision);
  writer.uint64Field(4, position);
  writer.uint64Field(5, position);
  mapEntry(writer, 6, 'type', event.type);
  mapEntry(writer, 6, 'content-type', event.contentType);
  mapEntry(writer, 6, 'created', createdTicks);
  if (event.customMetadata.length > 0) writer.bytesField(7, event.customMetadata);
  if (event.data.length > 0) writer.bytesField(8, event.data);
}

function mapEntry(writer: ProtoWriter, field: number, key: string, value: string): void {
  const at = writer.beginMessage(field);
  writer.stringField(1, key);
  writer.stringField(2, value);
  writer.endMessage(at);
}

export function parseRecordedEvent(buf: Buffer, start: number, end: number): ParsedEntry {
  const r = new ProtoReader(buf, start, end);
  const out: ParsedEntry = {
    id: '',
    streamName: '',
    revision: 0,
    type: '',
    contentType: '',
    createdTicks: '0',
    dataStart: end,
    dataEnd: end,
    metadataStart: end,
    metadataEnd: end,
  };
  while (!r.done()) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    switch (field) {
      case 1: {
        const [s, e] = r.lengthDelimited();
        out.id = innerString(buf, s, e, 2);
        break;
      }
      case 2: {
        const [s, e] = r.lengthDelimited();
        out.streamName = innerString(buf, s, e, 3);
        break;
      }
      case 3: {
        const rev = r.bigVarint();
        out.revision = rev === TOMBSTONE_REVISION ? -1 : Number(rev);
        break;
      }
      case 6: {
        const [s, e] = r.lengthDelimited();
        const inner = new ProtoReader(buf, s, e);
        let k = '';
        let v = '';
        while (!inner.done()) {
          const t = inner.varint();
          const [a, b] = inner.lengthDelimited();
          if (t >> 3 === 1) k = buf.toString('utf8', a, b);
          else v = buf.toString('utf8', a, b);
        }
        if (k === 'type') out.type = v;
        else if (k === 'content-type') out.contentType = v;
        else if (k === 'created') out.createdTicks = v;
        break;
      }
      case 7:
        [out.metadataStart, out.metadataEnd] = r.lengthDelimited();
        break;
      case 8:
        [out.dataStart, out.dataEnd] = r.lengthDelimited();
        break;
      default:
        r.skip(wire);
    }
  }
  return out;
}

function innerString(buf: Buffer, start: number, end: number, field: number): string {
  const r = new ProtoReader(buf, start, end);
  while (!r.done()) {
    const key = r.varint();
    if (key >> 3 === field && (key & 7) === 2) {
      const [s, e] = r.lengthDelimited();
      return buf.toString('utf8', s, e);
    }
    r.skip(key & 7);
  }
  return '';
}
