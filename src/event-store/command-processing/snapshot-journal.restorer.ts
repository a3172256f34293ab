import { performance } from 'node:perf_hooks';
import type { CommandProcessorLogger, SafeObserver } from './command-processor.observer';
import { rejectAll, unavailable, type PendingCommand } from './outcome.settler';
import type { FoldedStream, JournalRead, PendingJournal, StreamSlot } from './stream-slot.cache';
import type { JournalSettings } from './snapshot.settings';

/**
 * Brings a state loaded from a snapshot its snapshot journal: reads the journal in the background
 * right after the load, and merges it in before the first command that needs it.
 */
export class JournalRestorer<State, Command> {
  private readonly reads = new Set<Promise<unknown>>();

  constructor(
    private readonly journal: JournalSettings<State, Command>,
    private readonly version: number,
    private readonly observer: SafeObserver,
    private readonly logger: CommandProcessorLogger,
  ) {}

  /** Journal reads not yet settled. */
  get inFlight(): Promise<unknown>[] {
    return [...this.reads];
  }

  /** Starts reading the journal of a state loaded from the snapshot at `snapshotRevision`. */
  startRead(streamName: string, snapshotRevision: bigint): PendingJournal {
    const pending: PendingJournal = {
      snapshotRevision,
      started: performance.now(),
      read: this.journal.store.read(streamName, this.version).then(
        (entries): JournalRead => {
          pending.outcome = { ok: true, entries };
          return pending.outcome;
        },
        (error: unknown): JournalRead => {
          pending.outcome = { ok: false, error };
          return pending.outcome;
        },
      ),
    };
    const read = pending.read.finally(() => this.reads.delete(read));
    this.reads.add(read);
    return pending;
  }

  /**
   * Restores the journal into `folded` once it has been read. Until then answers how many leading
   * commands of `pending` the decider can decide without it, and waits for the read only when that is
   * none. `failed`: the read failed, `pending` was rejected and the state dropped. `reload`: the journal
   * would not restore, so the stream is loaded again without its snapshot (a full fold, as for a
   * snapshot that does not restore).
   */
  async restore<Result>(
    slot: StreamSlot<State, Command, Result>,
    folded: FoldedStream<State>,
    journal: PendingJournal,
    pending: readonly PendingCommand<Command, Result>[],
  ): Promise<number | 'failed' | 'reload'> {
    let read = journal.outcome;
    if (read === undefined) {
      const ready = this.decidableWithout(pending);
      if (ready > 0) return ready;
      read = await journal.read;
    }
    if (!read.ok) {
      if (slot.folded === folded) slot.folded = undefined;
      this.observer.failed(slot.streamName, 'journal', read.error);
      rejectAll(pending, unavailable(slot.streamName, 'could not read the snapshot journal', read.error));
      return 'failed';
    }
    try {
      folded.state = this.journal.part.restore(folded.state, read.entries, journal.snapshotRevision);
    } catch (error) {
      this.logger.warn('ignoring a snapshot whose journal does not restore', {
        streamName: slot.streamName,
        error,
      });
      this.observer.failed(slot.streamName, 'journal', error);
      slot.folded = undefined;
      slot.snapshot.skipOnNextLoad = true;
      return 'reload';
    }
    folded.journal = undefined;
    this.observer.journalRestored({
      streamName: slot.streamName,
      entries: read.entries.length,
      durationMs: performance.now() - journal.started,
    });
    return pending.length;
  }

  private decidableWithout<Result>(pending: readonly PendingCommand<Command, Result>[]): number {
    const part = this.journal.part;
    let ready = 0;
    if (part.decidableWithout) {
      while (ready < pending.length && part.decidableWithout(pending[ready].command)) ready++;
    }
    return ready;
  }
}
