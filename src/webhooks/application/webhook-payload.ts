import type { RecordedDomainEvent } from '../../event-store/command-processing/event-envelope';

/**
 * The body of a delivery (Standard Webhooks: `{type, timestamp, data}`), fixed when its outbox row is
 * written: `type` is the event's type, `timestamp` when it was recorded, and `data` the event itself
 * with where it sits in the log, so a receiver can order, deduplicate and check it against the feed.
 */
export interface WebhookBody {
  readonly type: string;
  readonly timestamp: string;
  readonly data: {
    readonly eventId: string;
    readonly parentId: string;
    readonly streamName: string;
    /** Decimal strings: 64-bit numbers. */
    readonly streamRevision: string;
    readonly position: { readonly commit: string; readonly prepare: string };
    readonly data: unknown;
    readonly metadata: Record<string, unknown>;
  };
}

/** The parent of a delivered stream (`ledger-<p>`, `webhooks-<p>`): everything after the first dash. */
export function parentOfStream(streamName: string): string {
  return streamName.slice(streamName.indexOf('-') + 1);
}

export function webhookBody(event: RecordedDomainEvent, prepare: bigint): WebhookBody {
  return {
    type: event.type,
    timestamp: event.created.toISOString(),
    data: {
      eventId: event.id,
      parentId: parentOfStream(event.streamName),
      streamName: event.streamName,
      streamRevision: String(event.revision),
      position: { commit: String(event.commitPosition ?? prepare), prepare: String(prepare) },
      data: event.data,
      metadata: event.metadata,
    },
  };
}
