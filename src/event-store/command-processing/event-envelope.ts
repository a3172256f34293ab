import { randomUUID } from 'node:crypto';
import { jsonEvent, type EventData, type JSONType, type ResolvedEvent } from '@eventstore/db-client';
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
 */
export function toEventData(event: DomainEvent, extraMetadata?: EventMetadata): EventData {
  const metadata = extraMetadata ? { ...extraMetadata, ...event.metadata } : event.metadata;
  return jsonEvent({
    id: randomUUID(),
    type: event.type,
    data: event.data as JSONType,
    ...(metadata ? { metadata } : {}),
  });
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
