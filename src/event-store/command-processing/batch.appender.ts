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
import { rejectAll, settle, unavailable, type PendingCommand, type Verdict } from './outcome.settler';
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

  /**
   * The pipelined append of an exclusive writer (`maxAppendsInFlight` > 1): sent at once, expecting
   * the revision `folded` is at (which counts the events of appends still in flight), and `folded`
   * moves on to this batch's end, so the next batch can be decided and sent before this one returns.
   * The expected revision still guards the chain: a batch lands only if every batch before it did.
   *
   * Resolves (never rejects) once this batch is settled, after the batch before it (`previous`) was:
   * true when durable and answered; false when not, and then `pipe` is broken and the cached state
   * dropped. `held` are reads and refusals decided before the batch's first event, on a state that
   * counted undurable events: they are answered with the batch. What a failure leaves unanswered is
   * put into `pipe.requeued` to be decided again on the reloaded stream (a WrongExpectedVersion means
   * nothing of this batch was written); what may have been written fails as before, unavailable.
   */
  appendAhead(
    slot: StreamSlot<State, Command, Result>,
    folded: FoldedStream<State>,
    events: EventData[],
    held: readonly Verdict<Command, Result>[],
    verdicts: readonly Verdict<Command, Result>[],
    pipe: AppendPipe<Command, Result>,
    seq: number,
  ): Promise<boolean> {
    const expected = folded.revision;
    const end = expected + BigInt(events.length);
    folded.revision = end;
    const previous = pipe.inFlight.at(-1);
    const started = performance.now();
    const sent = this.client
      .appendToStream(slot.streamName, events, {
        expectedRevision: expected < 0n ? NO_STREAM : expected,
        ...(this.settings.appendDeadlineMs === undefined ? {} : { deadline: this.settings.appendDeadlineMs }),
      })
      .then(
        (appended): { appended: AppendResult } | { failure: unknown } =>
          appended.success
            ? { appended }
            : {
                failure: new WrongExpectedVersionError(undefined, {
                  streamName: slot.streamName,
                  expected,
                  current: appended.nextExpectedRevision,
                }),
              },
        (failure: unknown) => ({ failure }),
      );
    return (async () => {
      const outcome = await sent;
      // Answered in batch order, whatever order the store's answers came in.
      await previous;
      if ('appended' in outcome) {
        const { appended } = outcome;
        const commitPosition = appended.position?.commit ?? folded.commitPosition;
        if (slot.folded === folded && appended.position) folded.commitPosition = appended.position.commit;
        if (appended.nextExpectedRevision !== end && slot.folded === folded) {
          // Durable, but not where the cache thought: trust the store, reload.
          pipe.broken = true;
          slot.folded = undefined;
        }
        this.observer.appended({
          streamName: slot.streamName,
          commands: held.length + verdicts.length,
          events: events.length,
          durationMs: performance.now() - started,
        });
        settle(slot.streamName, [...held, ...verdicts], commitPosition);
        return true;
      }
      const { failure } = outcome;
      pipe.broken = true;
      if (slot.folded === folded) slot.folded = undefined;
      pipe.requeued.push({ seq, commands: pendingOf(held) });
      if (failure instanceof WrongExpectedVersionError) {
        this.observer.conflicted({ streamName: slot.streamName, attempt: 1 });
        pipe.requeued.push({ seq, commands: pendingOf(verdicts) });
      } else if (failure instanceof MaxAppendSizeExceededError) {
        rejectAll(
          pendingOf(verdicts),
          new AppendTooLargeError(slot.streamName, failure.maxAppendSize, events.length, { cause: failure }),
        );
      } else {
        this.observer.failed(slot.streamName, 'append', failure);
        rejectAll(pendingOf(verdicts), unavailable(slot.streamName, 'the append was not confirmed', failure));
      }
      return false;
    })();
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
 * One stream's pipelined appends (`maxAppendsInFlight` > 1), as its worker drains the queue: the
 * settlements in flight, oldest first, and what a failure left to be decided again.
 */
export interface AppendPipe<Command, Result> {
  /** Each batch's settlement, resolving true when it was durable; never rejects. */
  readonly inFlight: Promise<boolean>[];
  /** An append failed (or a decision threw): no new batch until every one in flight has settled. */
  broken: boolean;
  /** Commands to queue again, in batch order (`seq`), once the pipe has drained. */
  requeued: Array<{ readonly seq: number; readonly commands: PendingCommand<Command, Result>[] }>;
}

/**
 * How an append ended. `appended`: durable, its commands settled. `retry`: another writer got there
 * first and the stream's state is caught up (or dropped, to be reloaded): decide the batch again.
 * `settled`: it failed and every command it carried is settled or back in the queue.
 */
export type AppendEnd = 'appended' | 'retry' | 'settled';
