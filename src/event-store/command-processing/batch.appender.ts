import { performance } from 'node:perf_hooks';
import {
  MaxAppendSizeExceededError,
  NO_STREAM,
  WrongExpectedVersionError,
  type AppendResult,
  type EventData,
  type EventStoreDBClient,
} from '@eventstore/db-client';
import { AppendTooLargeError, ConcurrencyConflictError } from './command-processing.errors';
import type { SafeObserver } from './command-processor.observer';
import type { Decider, DomainEvent } from './decider';
import { rejectAll, settle, unavailable, type Verdict } from './outcome.settler';
import type { FoldedStream, StreamSlot } from './stream-slot.cache';
import type { StreamLoader } from './stream.loader';

/**
 * Appends a decided batch in one call with the expected revision of the state it was decided on, and
 * handles what another writer's append in between means: catch up, and let the batch be decided again
 * a bounded number of times.
 */
export class BatchAppender<State, Command, Event extends DomainEvent, Result> {
  constructor(
    private readonly client: EventStoreDBClient,
    private readonly decider: Decider<State, Command, Event, Result>,
    private readonly loader: StreamLoader<State, Command, Event, Result>,
    private readonly settings: AppendSettings,
    private readonly observer: SafeObserver,
  ) {}

  /**
   * The state a conflict rolls back to, taken before deciding (which folds into the state in place):
   * a copy when the decider can clone, else nothing, and a conflict reloads the stream.
   */
  rollbackPoint(folded: FoldedStream<State>): FoldedStream<State> | undefined {
    return this.decider.clone
      ? {
          state: this.decider.clone(folded.state),
          revision: folded.revision,
          commitPosition: folded.commitPosition,
          chainHead: folded.chainHead,
        }
      : undefined;
  }

  /**
   * Appends `events`, decided on `folded` as it was at `beforeBatch`, and settles `verdicts` (the
   * commands that waited on this append) once they are durable.
   */
  async append(
    slot: StreamSlot<State, Command, Result>,
    folded: FoldedStream<State>,
    beforeBatch: FoldedStream<State> | undefined,
    events: EventData[],
    verdicts: readonly Verdict<Command, Result>[],
    attempt: number,
  ): Promise<AppendEnd> {
    const started = performance.now();
    let appended: AppendResult;
    try {
      appended = await this.client.appendToStream(slot.streamName, events, {
        expectedRevision: folded.revision < 0n ? NO_STREAM : folded.revision,
        ...(this.settings.appendDeadlineMs === undefined ? {} : { deadline: this.settings.appendDeadlineMs }),
      });
      if (!appended.success) {
        // A client built with `throwOnAppendFailure: false` reports the conflict instead of throwing.
        throw new WrongExpectedVersionError(undefined, {
          streamName: slot.streamName,
          expected: folded.revision,
          current: appended.nextExpectedRevision,
        });
      }
    } catch (error) {
      // The batch's events were folded into the cached state but are not (knowingly) in the store.
      slot.folded = beforeBatch;
      if (error instanceof MaxAppendSizeExceededError) {
        slot.folded = undefined;
        rejectAll(
          pendingOf(verdicts),
          new AppendTooLargeError(slot.streamName, error.maxAppendSize, events.length, { cause: error }),
        );
        return 'settled';
      }
      if (!(error instanceof WrongExpectedVersionError)) {
        slot.folded = undefined;
        this.observer.failed(slot.streamName, 'append', error);
        rejectAll(pendingOf(verdicts), unavailable(slot.streamName, 'the append was not confirmed', error));
        return 'settled';
      }
      return this.conflicted(slot, beforeBatch, verdicts, attempt);
    }

    folded.revision = appended.nextExpectedRevision;
    folded.commitPosition = appended.position?.commit ?? folded.commitPosition;
    this.observer.appended({
      streamName: slot.streamName,
      commands: verdicts.length,
      events: events.length,
      durationMs: performance.now() - started,
    });
    settle(slot.streamName, verdicts, folded.commitPosition);
    return 'appended';
  }

  private async conflicted(
    slot: StreamSlot<State, Command, Result>,
    beforeBatch: FoldedStream<State> | undefined,
    verdicts: readonly Verdict<Command, Result>[],
    attempt: number,
  ): Promise<AppendEnd> {
    this.observer.conflicted({ streamName: slot.streamName, attempt });
    const exhausted = attempt > this.settings.maxConflictRetries;
    // Writers that collided would collide again at once: a short random pause spreads them out.
    if (!exhausted) await jitter(attempt);
    if (beforeBatch) {
      try {
        await this.loader.foldTail(slot.streamName, beforeBatch);
      } catch (readError) {
        slot.folded = undefined;
        this.observer.failed(slot.streamName, 'load', readError);
        rejectAll(pendingOf(verdicts), unavailable(slot.streamName, 'could not catch up', readError));
        return 'settled';
      }
    }
    if (!exhausted) return 'retry';
    // Only the commands that wanted to append lost the race. A read, an idempotent repeat or a refusal
    // riding in the same batch was decided on state that included their events, so it goes back to
    // the head of the queue and is decided again on the stream as it is now (caught up just above): a
    // read never answers 409.
    const lost = verdicts.filter((verdict) => verdict.ok && verdict.eventCount > 0);
    const again = verdicts.filter((verdict) => !verdict.ok || verdict.eventCount === 0);
    rejectAll(pendingOf(lost), new ConcurrencyConflictError(slot.streamName, attempt));
    slot.queue.unshift(...pendingOf(again));
    return 'settled';
  }
}

function pendingOf<Command, Result>(verdicts: readonly Verdict<Command, Result>[]) {
  return verdicts.map((verdict) => verdict.pending);
}

/** Up to 2^attempt ms (capped at 50), random: enough to de-synchronise instances racing on one stream. */
function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface AppendSettings {
  /** Retries of a batch that met a concurrent writer before its commands fail. */
  readonly maxConflictRetries: number;
  /** Per-append deadline; the client's default when undefined. */
  readonly appendDeadlineMs: number | undefined;
}

/**
 * How an append ended. `appended`: durable, its commands settled. `retry`: another writer got there
 * first and the stream's state is caught up (or dropped, to be reloaded): decide the batch again.
 * `settled`: it failed and every command it carried is settled or back in the queue.
 */
export type AppendEnd = 'appended' | 'retry' | 'settled';
