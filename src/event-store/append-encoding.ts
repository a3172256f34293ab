import { AppendReq, BatchAppendReq } from '@eventstore/db-client/generated/streams_pb';

/**
 * Native base64 decoding for the byte fields of the client's proposed events.
 *
 * `@eventstore/db-client` 6.2.1 hands a JSON event's data and metadata to google-protobuf as a base64
 * string (`setData(Buffer.from(json).toString('base64'))`). google-protobuf keeps the string and
 * decodes it with its pure-JS, character-by-character base64 decoder every time the message is
 * serialised — on the BatchAppend path twice per event (once to size the batch, once to send it).
 * That decoding was a fifth to a third of the service's CPU under usage load (docs/benchmarks.md).
 *
 * Here the setters of the two proposed-message classes decode a string once, natively, and store the
 * bytes; the getters and serialisers then find a `Uint8Array` and copy it as is. The bytes on the wire
 * are exactly the ones the client produced before, so a real EventStoreDB/KurrentDB sees no
 * difference; only the client's CPU changes. Applied once per process, on import, before any append.
 */
type BytesSetter<Message> = (this: Message, value: string | Uint8Array) => Message;

interface ProposedMessageClass<Message> {
  prototype: { setData: BytesSetter<Message>; setCustomMetadata: BytesSetter<Message> };
}

const PATCHED = Symbol.for('subledger.nativeBase64ProposedMessage');

function toBytes(value: string | Uint8Array): Uint8Array {
  if (typeof value !== 'string') return value;
  const decoded = Buffer.from(value, 'base64');
  // A plain Uint8Array view, as google-protobuf's own decoder returns (no Buffer subclass).
  return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
}

function patch<Message>(messageClass: ProposedMessageClass<Message>): void {
  const prototype = messageClass.prototype as ProposedMessageClass<Message>['prototype'] & {
    [PATCHED]?: true;
  };
  if (prototype[PATCHED]) return;
  const { setData, setCustomMetadata } = prototype;
  if (typeof setData !== 'function' || typeof setCustomMetadata !== 'function') {
    throw new Error(
      '@eventstore/db-client: ProposedMessage has no setData/setCustomMetadata; is it still 6.2.1?',
    );
  }
  prototype.setData = function (this: Message, value) {
    return setData.call(this, toBytes(value));
  };
  prototype.setCustomMetadata = function (this: Message, value) {
    return setCustomMetadata.call(this, toBytes(value));
  };
  prototype[PATCHED] = true;
}

/** Idempotent; the event-store client provider calls it before creating the client. */
export function useNativeBase64ForAppends(): void {
  patch(BatchAppendReq.ProposedMessage as unknown as ProposedMessageClass<BatchAppendReq.ProposedMessage>);
  patch(AppendReq.ProposedMessage as unknown as ProposedMessageClass<AppendReq.ProposedMessage>);
}
