import type { BatchAppender } from './batch.appender';
import type { BatchDecider, DecidedBatch } from './batch.decider';
import type { SafeObserver } from './command-processor.observer';

import type { DomainEvent, PreparedBatch } from './decider';
import { rejectAll, settle, unavailable, type PendingCommand } from './outcome.settler';
import type { FoldedStream, StreamSlot, StreamSlotCache } from './stream-slot.cache';
import type { StreamLoader } from './stream.loader';
import type { StreamSnapshotter } from './stream.snapshotter';

/**
 * One worker per busy stream drains its queue, batch after batch: bring the state up to date, decide
 * what is waiting, append it in one call, settle. Only one append is ever in flight per stream, so the
 * next batch is always decided on a settled history.
 */
export class StreamWorker<State, Command, Event extends DomainEvent, Result> {
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly parts: StreamWorkerParts<State, Command, Event, Result>,
    private readonly settings: StreamWorkerSettings,
    private readonly observer: SafeObserver,
  ) {}

  /** Workers still draining. */
  get inFlight(): Promise<void>[] {
    return [...this.running];
  }

  start(slot: StreamSlot<State, Command, Result>): void {
    slot.working = true;
    // Start on the next microtask so that commands sent in the same tick (a batch route) share a batch.
    const worker = Promise.resolve()
      .then(() => this.drain(slot))
      .finally(() => {
        this.running.delete(worker);
        this.parts.slots.evictIdle();
      });
    this.running.add(worker);
  }

  private async drain(slot: StreamSlot<State, Command, Result>): Promise<void> {
    // The next batch, taken and being prepared while the one before it appends (`prepareAhead`).
    let ahead: AheadBatch<Command, Result> | undefined;
    const takeAhead = () => {
      ahead ??= this.prepareAhead(slot);
    };
    try {
      while (ahead !== undefined || slot.queue.length > 0) {
        const batch = ahead?.commands ?? slot.queue.splice(0, this.settings.maxBatchCommands);
        const prepared = ahead?.prepared;
        ahead = undefined;
        try {
          await this.runBatch(slot, batch, prepared, takeAhead);
        } catch (error) {
          // A bug of ours must not wedge the stream: forget the state and fail what is unsettled.
          slot.folded = undefined;
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      // In the same synchronous step as the last empty-queue check, so no command can slip in between.
      slot.working = false;
    }
  }

  /**
   * While a batch appends, the commands queued behind it become the next batch and `prepare` starts on
   * them at once, so its I/O (the ledger's key lookup) overlaps the append instead of following it.
   * The state it sees already holds the appending batch's events. `prepare` runs on them again just
   * before they are decided, and keeps what it fetched ahead if that is still good; a failure here is
   * left for that second call to meet again and report.
   */
  private prepareAhead(slot: StreamSlot<State, Command, Result>): AheadBatch<Command, Result> | undefined {
    const prepare = this.parts.prepare;
    const folded = slot.folded;
    if (!prepare || !folded || slot.queue.length === 0) return undefined;
    const commands = slot.queue.splice(0, this.settings.maxBatchCommands);
    const prepared = prepare(preparedBatch(slot, folded, commands)).catch(() => undefined);
    return { commands, prepared };
  }

  private async runBatch(
    slot: StreamSlot<State, Command, Result>,
    batch: PendingCommand<Command, Result>[],
    preparedAhead: Promise<void> | undefined,
    takeAhead: () => void,
  ): Promise<void> {
    let pending = batch;
    // Settled before anything else touches the state (it never rejects: see `prepareAhead`).
    await preparedAhead;
    for (let attempt = 1; ; attempt++) {
      const folded = await this.current(slot, pending, attempt);
      if (!folded) return;
      if (this.parts.prepare) {
        try {
          await this.parts.prepare(preparedBatch(slot, folded, pending));
        } catch (error) {
          this.observer.failed(slot.streamName, 'prepare', error);
          rejectAll(pending, unavailable(slot.streamName, 'could not prepare the batch', error));
          return;
        }
      }

      const beforeBatch = this.parts.appender.rollbackPoint(folded);
      const decided = this.decide(slot, folded, pending);
      if (!decided) return;
      if (decided.deferred.length > 0) {
        slot.queue.unshift(...decided.deferred);
        pending = pending.slice(0, pending.length - decided.deferred.length);
      }
      // Reads and refusals decided before the batch's first event answer now, not after the append:
      // a guard's read then costs no round trip.
      const early = decided.settledOnDurableState;
      settle(slot.streamName, decided.verdicts.slice(0, early), folded.commitPosition);
      if (decided.events.length === 0) return;
      pending = pending.slice(early);

      takeAhead();
      const end = await this.parts.appender.append(
        slot,
        folded,
        beforeBatch,
        decided.events,
        decided.verdicts.slice(early),
        attempt,
      );
      if (end === 'retry') continue;
      if (end === 'appended') this.parts.snapshotter?.maybeSnapshot(slot);
      return;
    }
  }

  /**
   * The state to decide on: the cached one (first checked against the stream's head when other
   * processes may write; retries have just caught up or reloaded), else a fresh load. Undefined when
   * the store could not be read: `pending` is then rejected.
   */
  private async current(
    slot: StreamSlot<State, Command, Result>,
    pending: readonly PendingCommand<Command, Result>[],
    attempt: number,
  ): Promise<FoldedStream<State> | undefined> {
    try {
      if (attempt === 1 && slot.folded && !this.settings.exclusiveWriter) {
        await this.parts.loader.catchUp(slot, slot.folded);
      }
      if (slot.folded) return slot.folded;
      const loaded = await this.parts.loader.load(slot);
      this.parts.snapshotter?.maybeSnapshot(slot);
      return loaded;
    } catch (error) {
      slot.folded = undefined;
      this.observer.failed(slot.streamName, 'load', error);
      rejectAll(pending, unavailable(slot.streamName, 'could not load the stream', error));
      return undefined;
    }
  }

  /** Undefined when `evolve` threw halfway through a fold: the state is dropped and `pending` rejected. */
  private decide(
    slot: StreamSlot<State, Command, Result>,
    folded: FoldedStream<State>,
    pending: readonly PendingCommand<Command, Result>[],
  ): DecidedBatch<Command, Result> | undefined {
    try {
      return this.parts.decider.decide(slot.streamName, folded, pending);
    } catch (error) {
      slot.folded = undefined;
      this.observer.failed(slot.streamName, 'evolve', error);
      rejectAll(pending, error);
      return undefined;
    }
  }
}

/** What `prepare` gets for `pending`, decided on `folded`. */
function preparedBatch<State, Command, Result>(
  slot: StreamSlot<State, Command, Result>,
  folded: FoldedStream<State>,
  pending: readonly PendingCommand<Command, Result>[],
): PreparedBatch<State, Command> {
  return {
    streamName: slot.streamName,
    state: folded.state,
    revision: folded.revision,
    commands: pending.map((command) => command.command),
  };
}

/** A batch taken from the queue ahead of its turn, and its `prepare` under way. */
interface AheadBatch<Command, Result> {
  readonly commands: PendingCommand<Command, Result>[];
  readonly prepared: Promise<void>;
}

export interface StreamWorkerParts<State, Command, Event extends DomainEvent, Result> {
  readonly slots: StreamSlotCache<State, Command, Result>;
  readonly loader: StreamLoader<State, Command, Event, Result>;
  readonly decider: BatchDecider<State, Command, Event, Result>;
  readonly appender: BatchAppender<State, Command, Event, Result>;
  readonly snapshotter: StreamSnapshotter<State, Command> | undefined;
  readonly prepare: ((batch: PreparedBatch<State, Command>) => Promise<void>) | undefined;
}

export interface StreamWorkerSettings {
  /** Most commands decided together and appended in one call. */
  readonly maxBatchCommands: number;
  /** No other process appends to these streams: a cached state is trusted as it is. */
  readonly exclusiveWriter: boolean;
}
