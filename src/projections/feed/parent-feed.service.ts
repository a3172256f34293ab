import {
  START,
  StreamNotFoundError,
  type EventStoreDBClient,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { fromResolvedEvent } from '../../event-store/command-processing/event-envelope';
import { ledgerStreamName } from '../../ledger/domain';
import { ProjectionQueryError } from '../projection.errors';

/**
 * `GET /v1/parents/{p}/events?after=`. A parent's events already are one ordered stream,
 * `ledger-<parentId>`, so the feed needs no projection state at all: it pages that stream with the
 * stream revision as the cursor and follows it live with a stream subscription. Nothing to rebuild,
 * nothing to checkpoint, and the order is the write side's own.
 */
export interface FeedEvent {
  /** The stream revision, as a decimal string: resume after this event with `after=<cursor>`. */
  readonly cursor: string;
  readonly eventId: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Position in `$all` (decimal), to correlate with other streams; null if the server gave none. */
  readonly position: string | null;
}

export interface FeedPage {
  readonly events: FeedEvent[];
  /** The cursor to ask for the next page with; equal to `after` when no new event was there. */
  readonly nextCursor: string | null;
}

export const MAX_FEED_LIMIT = 1_000;

export class ParentFeedService {
  constructor(private readonly client: EventStoreDBClient) {}

  /** Events after `after` (exclusive), oldest first; a parent with no stream yet has an empty feed. */
  async page(parentId: string, opts: { after?: string; limit: number }): Promise<FeedPage> {
    const after = opts.after === undefined ? undefined : parseFeedCursor(opts.after);
    if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_FEED_LIMIT) {
      throw new ProjectionQueryError(`limit must be an integer from 1 to ${MAX_FEED_LIMIT}`);
    }
    const events: FeedEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(ledgerStreamName(parentId), {
        fromRevision: after === undefined ? START : after + 1n,
        maxCount: opts.limit,
      })) {
        const event = toFeedEvent(resolved);
        if (event) events.push(event);
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return { events, nextCursor: events.at(-1)?.cursor ?? opts.after ?? null };
  }

  /**
   * Every event after `after`, then new ones as they are appended, until the consumer stops iterating
   * or `signal` aborts (the HTTP layer aborts when the client disconnects). Catch-up and live are one
   * server-side subscription, so nothing is lost or repeated at the hand-over.
   */
  async *live(
    parentId: string,
    opts: { after?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<FeedEvent> {
    const after = opts.after === undefined ? undefined : parseFeedCursor(opts.after);
    if (opts.signal?.aborted) return;
    const subscription = this.client.subscribeToStream(ledgerStreamName(parentId), {
      fromRevision: after === undefined ? START : after,
    });
    const stop = () => {
      void subscription.unsubscribe().then(() => subscription.destroy());
    };
    opts.signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const resolved of subscription) {
        const event = toFeedEvent(resolved);
        if (event) yield event;
      }
    } finally {
      opts.signal?.removeEventListener('abort', stop);
      await subscription.unsubscribe();
      subscription.destroy();
    }
  }
}

export function parseFeedCursor(cursor: string): bigint {
  if (!/^(0|[1-9]\d{0,18})$/.test(cursor)) {
    throw new ProjectionQueryError('after must be the cursor of a feed event (a stream revision)');
  }
  return BigInt(cursor);
}

/** Secret hashes are stored so keys can be checked; they are never shown, not even as hashes. */
const REDACTED_FIELDS: Readonly<Record<string, readonly string[]>> = { ApiKeyIssued: ['secretHash'] };

function toFeedEvent(resolved: ResolvedEvent): FeedEvent | undefined {
  const event = fromResolvedEvent(resolved);
  if (!event) return undefined;
  let data = event.data;
  const redacted = REDACTED_FIELDS[event.type];
  if (redacted && typeof data === 'object' && data !== null) {
    data = Object.fromEntries(Object.entries(data).filter(([field]) => !redacted.includes(field)));
  }
  return {
    cursor: event.revision.toString(),
    eventId: event.id,
    type: event.type,
    data,
    metadata: event.metadata,
    position: event.commitPosition?.toString() ?? null,
  };
}
