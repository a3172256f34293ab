import { START, type EventStoreDBClient } from '@eventstore/db-client';
import { fromResolvedEvent } from '../../event-store/command-processing/event-envelope';
import {
  comparePositions,
  LEDGER_STREAM_PREFIX,
  type LogPosition,
  type RecordedEnvelope,
  recordedEnvelopeOf,
} from '../projection';

/**
 * A run of `$all` as the runner folds it: the envelopes of the ledger events in it (in log order, each
 * with its position), and how far it reaches. Events of other streams and of types this build does not
 * know are only counted: no projection writes them, checkpoints pass them.
 */
export interface LogChunk {
  readonly envelopes: RecordedEnvelope[];
  /** Events the chunk covers, ledger or not. */
  readonly events: number;
  /** The position of its last event, ledger or not (null only for an empty chunk). */
  readonly last: LogPosition | null;
  /** The read came back short: this chunk ends the log as the read met it. */
  readonly end: boolean;
}

/** Events per `readAll` call: long enough to stream at full speed, short enough to stop promptly. */
export const READ_PAGE = 20_000;
/** Events per chunk handed on. */
export const CHUNK_EVENTS = 1_000;
/**
 * Decoded events the reader thread's read stream may hold before it stops taking messages off the wire
 * (the client's default is 16): handing on a chunk keeps that thread busy for a few milliseconds, during
 * which a stream of 16 stops pulling from the call, and the store from sending. Measured only together
 * with the rest of decision 85. Read in place, the consumer is the fold itself, and the default stays:
 * more would only hold memory in the service's projector thread during a catch-up.
 */
export const THREAD_READ_BUFFER_EVENTS = 4_096;

/**
 * Reads `$all` after `from` (from the start when null) to its end in pages, as chunks. A page is always
 * read to its end even when the consumer stops early: the client's `dispose` waits for any read left
 * half-consumed. `stopped` is asked before each chunk: once it says so, no chunk is handed on any more and
 * the page is read to its end unseen. `readBufferEvents`: the read stream's buffer, the client's default
 * when not given.
 */
export async function* readLogChunks(
  client: EventStoreDBClient,
  from: LogPosition | null,
  stopped: () => boolean = () => false,
  readBufferEvents?: number,
): AsyncGenerator<LogChunk> {
  let after = from;
  for (;;) {
    let read = 0;
    let envelopes: RecordedEnvelope[] = [];
    let events = 0;
    let last: LogPosition | null = null;
    let stop = false;
    for await (const resolved of client.readAll(
      {
        fromPosition: after === null ? START : { commit: after.commit, prepare: after.prepare },
        maxCount: READ_PAGE,
      },
      readBufferEvents === undefined ? {} : { highWaterMark: readBufferEvents },
    )) {
      read++;
      const position = resolved.event?.position;
      if (stop || !position) continue;
      // A read from a position includes it; a subscription from it would not.
      if (after !== null && comparePositions(position, after) <= 0) continue;
      events++;
      last = position;
      if (resolved.event!.streamId.startsWith(LEDGER_STREAM_PREFIX)) {
        const recorded = fromResolvedEvent(resolved);
        const envelope = recorded && recordedEnvelopeOf(recorded, position);
        if (envelope) envelopes.push(envelope);
      }
      if (events === CHUNK_EVENTS) {
        stop = stopped();
        if (!stop) yield { envelopes, events, last, end: false };
        envelopes = [];
        events = 0;
        stop ||= stopped();
      }
    }
    if (stop || stopped()) return;
    const end = read < READ_PAGE;
    if (events > 0 || end) yield { envelopes, events, last, end };
    if (end || stopped()) return;
    if (last !== null) after = last;
  }
}
