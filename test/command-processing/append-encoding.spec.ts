import { jsonEvent } from '@eventstore/db-client';
import { AppendReq, BatchAppendReq } from '@eventstore/db-client/generated/streams_pb';
import { Message } from 'google-protobuf';
import {
  installedClientVersion,
  PATCHED_CLIENT_VERSION,
  useNativeBase64ForAppends,
} from '../../src/event-store/append-encoding';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';

useNativeBase64ForAppends();

const data = { text: 'é ✓ 𝄞 "quoted"\n', amount: 1_000_000_000_001, nested: { list: [1, null, true] } };
const metadata = {
  $correlationId: 'c-1',
  actor: { type: 'parent', id: 'p-1' },
  recordedAt: '2026-11-01T00:00:00.000Z',
};

/** What the client does with a JSON event's data and metadata before handing them to the message. */
const base64Json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

describe.each([
  ['BatchAppendReq', BatchAppendReq.ProposedMessage],
  ['AppendReq', AppendReq.ProposedMessage],
] as const)('%s.ProposedMessage with native base64', (_name, ProposedMessage) => {
  it('decodes once when set and serialises the very bytes google-protobuf would have', () => {
    const patched = new ProposedMessage();
    patched.setData(base64Json(data));
    patched.setCustomMetadata(base64Json(metadata));
    // Stored decoded: serialising no longer runs the JS base64 decoder.
    expect(patched.getData()).toBeInstanceOf(Uint8Array);
    expect(patched.getCustomMetadata()).toBeInstanceOf(Uint8Array);

    // The reference: google-protobuf's own decoder (what serialising the base64 string used to run).
    const reference = new ProposedMessage();
    reference.setData(Message.bytesAsU8(base64Json(data)));
    reference.setCustomMetadata(Message.bytesAsU8(base64Json(metadata)));
    expect(Buffer.from(patched.serializeBinary()).equals(Buffer.from(reference.serializeBinary()))).toBe(
      true,
    );
    expect(JSON.parse(Buffer.from(patched.getData_asU8()).toString('utf8'))).toEqual(data);
  });

  it('leaves bytes that are already bytes alone and is idempotent', () => {
    useNativeBase64ForAppends();
    const bytes = new Uint8Array([0, 1, 2, 250]);
    const message = new ProposedMessage();
    message.setData(bytes);
    expect(message.getData()).toBe(bytes);
  });
});

describe('the guard on the client version', () => {
  const PATCHED = Symbol.for('subledger.nativeBase64ProposedMessage');

  it('reads the installed client as the pinned one', () => {
    expect(installedClientVersion()).toBe(PATCHED_CLIENT_VERSION);
  });

  it.each(['6.2.2', '6.3.0', '7.0.0', 'undefined'])(
    'refuses another version (%s) and patches neither message class',
    (version) => {
      // Fresh copies of the generated classes, never patched in this registry.
      jest.isolateModules(() => {
        /* eslint-disable @typescript-eslint/no-require-imports */
        const fresh = require('@eventstore/db-client/generated/streams_pb') as {
          AppendReq: typeof AppendReq;
          BatchAppendReq: typeof BatchAppendReq;
        };
        const encoding = require('../../src/event-store/append-encoding') as {
          useNativeBase64ForAppends: typeof useNativeBase64ForAppends;
        };
        /* eslint-enable @typescript-eslint/no-require-imports */
        const prototypes = [fresh.BatchAppendReq.ProposedMessage, fresh.AppendReq.ProposedMessage].map(
          (messageClass) => messageClass.prototype as unknown as Record<PropertyKey, unknown>,
        );
        const setters = prototypes.map((prototype) => prototype.setData);
        expect(() => encoding.useNativeBase64ForAppends(version)).toThrow(
          `@eventstore/db-client ${version} is installed, but the native base64 patch`,
        );
        expect(prototypes.map((prototype) => prototype[PATCHED])).toEqual([undefined, undefined]);
        expect(prototypes.map((prototype) => prototype.setData)).toEqual(setters);
        // The pinned version, on the same fresh classes, does patch them.
        encoding.useNativeBase64ForAppends(PATCHED_CLIENT_VERSION);
        expect(prototypes.map((prototype) => prototype[PATCHED])).toEqual([true, true]);
      });
    },
  );
});

describe('appends through the client with native base64', () => {
  let store: TestEventStore;
  beforeAll(async () => {
    store = await startTestEventStore();
  });
  afterAll(async () => {
    await store.stop();
  });

  it.each([
    ['BatchAppend', {}],
    // Per-call credentials make the client use the plain Append call instead.
    ['Append', { credentials: { username: 'admin', password: 'changeit' } }],
  ])('reads back the same JSON data and metadata over %s', async (_path, options) => {
    const stream = uniqueStream('encoding');
    const events = [
      jsonEvent({ type: 'Tested', data, metadata }),
      jsonEvent({ type: 'Tested', data: { n: 2 } }),
    ];
    await store.client.appendToStream(stream, events, options);
    const read = await collect(store.client.readStream(stream));
    expect(read.map((resolved) => resolved.event?.data)).toEqual([data, { n: 2 }]);
    expect(read[0].event?.metadata).toEqual(metadata);
    expect(read.map((resolved) => resolved.event?.id)).toEqual(events.map((event) => event.id));
  });
});
