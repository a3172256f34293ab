import { randomUUID } from 'node:crypto';
import { jsonEvent, type EventData, type JSONType, type ResolvedEvent } from '@eventstore/db-client';
import {
  CHAIN_METADATA_KEY,
  canonicalJson,
  chainHashOfCanonicalData,
  metadataWithoutChain,
} from './audit-chain';
import type { DomainEvent, EventMetadata } from './decider';

/** A domain event as read back from the store, with where and when it was recorded. */
export interface RecordedDomainEvent<Event extends DomainEvent = DomainEvent> {
  readonly type: Event['type'];
  readonly data: Event['data'];
  readonly metadata: EventMetadata;
  readonly id: string;
  readonly streamName: string;
  readonly revision: bigint;
  /** Undefined only when the server does not report positions on stream reads (before 22.6). */
  readonly commitPosition: bigint | undefined;
  readonly created: Date;
}

/**
 * The client's event data for a domain event, with a fresh id. `extraMetadata` is the envelope of the
 * command (correlation, causation, actor); the event's own metadata wins on a clash.
 *
 * An event without metadata of its own carries the envelope as is, handed to the client already
 * encoded: the very UTF-8 JSON bytes the client would have produced, made once per envelope object
 * rather than stringified, base64-encoded and decoded again for each event. A batch request shares
 * one envelope among all its records, so an envelope must not be changed once it was passed here.
 */
export function toEventData(event: DomainEvent, extraMetadata?: EventMetadata): EventData {
  const metadata =
    extraMetadata && event.metadata
      ? { ...extraMetadata, ...event.metadata }
      : extraMetadata
        ? encodedEnvelope(extraMetadata)
        : event.metadata;
  return jsonEvent({
    id: randomUUID(),
    type: event.type,
    data: event.data as JSONType,
    ...(metadata ? { metadata } : {}),
  });
}

const encodedEnvelopes = new WeakMap<EventMetadata, Uint8Array>();

function encodedEnvelope(envelope: EventMetadata): Uint8Array {
  let bytes = encodedEnvelopes.get(envelope);
  if (!bytes) {
    const encoded = Buffer.from(JSON.stringify(envelope), 'utf8');
    // A plain Uint8Array: the client sends only those as bytes (a Buffer it would copy first).
    bytes = new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    encodedEnvelopes.set(envelope, bytes);
  }
  return bytes;
}

/**
 * The client's event data for a domain event, like `toEventData`, with its audit-chain link: the
 * metadata (envelope and the event's own, without any `chain` it brought) gets `chain: {prev, hash}`.
 * Returns the event data, its hash (the next event's `prev`) and the bytes of its data, metadata and
 * type (what the batch's size cap counts).
 */
export function toChainedEventData(
  event: DomainEvent,
  extraMetadata: EventMetadata | undefined,
  prev: string,
): { eventData: EventData; hash: string; payloadBytes: number } {
  const hashed =
    extraMetadata && !event.metadata
      ? hashedEnvelope(extraMetadata)
      : hashedMetadata(
          metadataWithoutChain(
            extraMetadata && event.metadata
              ? { ...extraMetadata, ...event.metadata }
              : (event.metadata ?? {}),
          ),
        );
  const canonicalData = canonicalJson(event.data);
  const hash = chainHashOfCanonicalData(prev, event.type, canonicalData, hashed.canonical);
  const encoded = Buffer.from(
    `${hashed.jsonOpen}"${CHAIN_METADATA_KEY}":{"prev":"${prev}","hash":"${hash}"}}`,
    'utf8',
  );
  return {
    eventData: jsonEvent({
      id: randomUUID(),
      type: event.type,
      data: event.data as JSONType,
      metadata: new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength),
    }),
    hash,
    // The client writes the data with JSON.stringify: the same members and values as the canonical
    // form in another order, so the same number of bytes.
    payloadBytes: Buffer.byteLength(canonicalData, 'utf8') + encoded.byteLength + event.type.length,
  };
}

/** Metadata ready to be hashed and written: its canonical JSON, and its JSON without the closing brace. */
interface HashedMetadata {
  readonly canonical: string;
  readonly jsonOpen: string;
}

const hashedEnvelopes = new WeakMap<EventMetadata, HashedMetadata>();

function hashedEnvelope(envelope: EventMetadata): HashedMetadata {
  let hashed = hashedEnvelopes.get(envelope);
  if (!hashed) {
    hashed = hashedMetadata(metadataWithoutChain(envelope));
    hashedEnvelopes.set(envelope, hashed);
  }
  return hashed;
}

function hashedMetadata(metadata: EventMetadata): HashedMetadata {
  const json = JSON.stringify(metadata);
  return {
    canonical: canonicalJson(metadata),
    jsonOpen: json === '{}' ? '{' : `${json.slice(0, -1)},`,
  };
}

/** The recorded event of a read or subscription, or undefined for an unresolved link. */
export function fromResolvedEvent<Event extends DomainEvent = DomainEvent>(
  resolved: ResolvedEvent,
): RecordedDomainEvent<Event> | undefined {
  const event = resolved.event;
  if (!event) return undefined;
  return {
    type: event.type,
    data: event.data as Event['data'],
    metadata: isMetadataObject(event.metadata) ? event.metadata : {},
    id: event.id,
    streamName: event.streamId,
    revision: event.revision,
    commitPosition: event.position?.commit ?? resolved.commitPosition,
    created: event.created,
  };
}

function isMetadataObject(value: unknown): value is EventMetadata {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}
