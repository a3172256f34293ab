import { readFileSync } from 'node:fs';
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
 * difference; only the client's CPU changes. Applied once per process, before any append, and only to
 * the client version it was written and tested against: any other version, or generated classes of
 * another shape, and it refuses with an error rather than patch code it does not know.
 */
type BytesSetter<Message> = (this: Message, value: string | Uint8Array) => Message;

interface ProposedMessageClass<Message> {
  prototype: { setData: BytesSetter<Message>; setCustomMetadata: BytesSetter<Message> };
}

const PATCHED = Symbol.for('subledger.nativeBase64ProposedMessage');

/** The only `@eventstore/db-client` version whose generated setters this module patches. */
export const PATCHED_CLIENT_VERSION = '6.2.1';

/** The version in the installed client's own package.json. */
export function installedClientVersion(): string {
  const manifest = JSON.parse(
    readFileSync(require.resolve('@eventstore/db-client/package.json'), 'utf8'),
  ) as { version?: unknown };
  return String(manifest.version);
}

function toBytes(value: string | Uint8Array): Uint8Array {
  if (typeof value !== 'string') return value;
  const decoded = Buffer.from(value, 'base64');
  // A plain Uint8Array view, as google-protobuf's own decoder returns (no Buffer subclass).
  return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
}

function checkShape<Message>(messageClass: ProposedMessageClass<Message>): void {
  const { setData, setCustomMetadata } = messageClass.prototype;
  if (typeof setData !== 'function' || typeof setCustomMetadata !== 'function') {
    throw new Error(
      `@eventstore/db-client: ProposedMessage has no setData/setCustomMetadata; is it still ${PATCHED_CLIENT_VERSION}?`,
    );
  }
}

function patch<Message>(messageClass: ProposedMessageClass<Message>): void {
  const prototype = messageClass.prototype as ProposedMessageClass<Message>['prototype'] & {
    [PATCHED]?: true;
  };
  if (prototype[PATCHED]) return;
  const { setData, setCustomMetadata } = prototype;
  prototype.setData = function (this: Message, value) {
    return setData.call(this, toBytes(value));
  };
  prototype.setCustomMetadata = function (this: Message, value) {
    return setCustomMetadata.call(this, toBytes(value));
  };
  prototype[PATCHED] = true;
}

/**
 * Idempotent; the event-store client provider calls it before creating the client. Throws, patching
 * nothing, unless the installed client is exactly {@link PATCHED_CLIENT_VERSION} and both generated
 * classes still have the two setters (`clientVersion` is for tests: it stands for the installed one).
 */
export function useNativeBase64ForAppends(clientVersion: string = installedClientVersion()): void {
  if (clientVersion !== PATCHED_CLIENT_VERSION) {
    throw new Error(
      `@eventstore/db-client ${clientVersion} is installed, but the native base64 patch of its ` +
        `ProposedMessage setters (src/event-store/append-encoding.ts) was written for ` +
        `${PATCHED_CLIENT_VERSION} only: pin the client back to ${PATCHED_CLIENT_VERSION}, or check ` +
        'the new generated classes and measure again before moving the pin here.',
    );
  }
  const classes = [
    BatchAppendReq.ProposedMessage as unknown as ProposedMessageClass<BatchAppendReq.ProposedMessage>,
    AppendReq.ProposedMessage as unknown as ProposedMessageClass<AppendReq.ProposedMessage>,
  ];
  // Both shapes first, so a refusal leaves neither class patched.
  classes.forEach(checkShape);
  classes.forEach(patch);
}
