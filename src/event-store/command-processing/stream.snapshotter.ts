import { performance } from 'node:perf_hooks';
import type { CommandProcessorLogger, SafeObserver } from './command-processor.observer';
import { snapshotInterval, type JournalSettings, type SnapshotSettings } from './snapshot.settings';
import type { FoldedStream, StreamSlot } from './stream-slot.cache';

/**
 * Writes snapshots (and the journal entries before them) in the background. A snapshot is only an
 * optimisation: a failure is logged and the next attempt waits another `every` events. With a snapshot
 * journal, the entries for the revisions since the last journaled snapshot are appended first, and the
 * snapshot names how far the journal reaches; a crash in between leaves entries past the older
 * snapshot, which `restore` ignores.
 *
 * A state of any size is written (in chunks, see `SnapshotStore`), and the next snapshot of a big state
 * waits in proportion to its size: at least `eventsPerChunk` events per chunk it took, so writing
 * snapshots never costs more than a bounded share of what the stream itself appends, while a load
 * folds at most that many events after the snapshot.
 */
export class StreamSnapshotter<State, Command> {
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly settings: SnapshotSettings<State>,
    private readonly journal: JournalSettings<State, Command> | undefined,
    /** The store's append limit, less headroom: the most one snapshot event (or chunk) may hold. */
    private readonly maxBytes: number,
    private readonly observer: SafeObserver,
    private readonly logger: CommandProcessorLogger,
  ) {}

  get every(): bigint {
    return this.settings.every;
  }

  /** Snapshot writes not yet settled. */
  get inFlight(): Promise<void>[] {
    return [...this.writes];
  }

  /** Starts a snapshot once `every` events went by since the last one and none is being written. */
  maybeSnapshot<Result>(slot: StreamSlot<State, Command, Result>): void {
    const folded = slot.folded;
    if (!folded || slot.snapshot.inFlight) return;
    if (folded.revision - slot.snapshot.revision < slot.snapshot.every) return;
    // Already logged and reported; the next attempt comes `every` events later.
    this.write(slot, folded).catch(() => undefined);
  }

  /** Serialises the snapshot now and writes it in the background; rejects (once logged) if not written. */
  write<Result>(slot: StreamSlot<State, Command, Result>, folded: FoldedStream<State>): Promise<void> {
    const marks = slot.snapshot;
    const revision = folded.revision;
    marks.revision = revision;
    const journalAfter = marks.journalThrough;
    let detached: { readonly json: string; readonly entries: unknown[] };
    try {
      detached = this.detach(folded.state, journalAfter, revision);
    } catch (error) {
      this.failed(slot.streamName, error);
      return Promise.reject(error);
    }
    const started = performance.now();
    marks.inFlight = true;
    const snapshot = {
      revision,
      commitPosition: folded.commitPosition,
      version: this.settings.version,
      ...(this.journal ? { journalThrough: revision } : {}),
    };
    const journal = this.journal;
    const write = (async () => {
      if (journal && detached.entries.length > 0) {
        const maxAge = marks.journalAged ? undefined : journal.part.maxAgeSeconds;
        await journal.store.append(
          slot.streamName,
          { after: journalAfter, through: revision, version: this.settings.version },
          detached.entries,
          maxAge,
        );
        marks.journalAged = true;
      }
      // Reached even when the snapshot write below fails: the journal itself is in the store.
      if (journal) marks.journalThrough = revision;
      const { chunks } = await this.settings.store.write(
        slot.streamName,
        snapshot,
        detached.json,
        this.maxBytes,
      );
      marks.every = snapshotInterval(this.settings, chunks);
    })();
    const settled = write
      .then(
        () => {
          const durationMs = performance.now() - started;
          this.observer.snapshotted({ streamName: slot.streamName, revision, durationMs });
        },
        (error: unknown) => this.failed(slot.streamName, error),
      )
      .finally(() => {
        marks.inFlight = false;
        this.writes.delete(settled);
      });
    this.writes.add(settled);
    return write;
  }

  /**
   * The snapshot as JSON text and the journal entries as JSON values of their own: the client
   * serialises them later, and by then the live state has moved on.
   */
  private detach(
    state: State,
    journalAfter: bigint,
    revision: bigint,
  ): { readonly json: string; readonly entries: unknown[] } {
    const json = JSON.stringify(this.settings.codec.toSnapshot(state));
    const entries = this.journal
      ? this.journal.part.entries(state, journalAfter, revision, this.maxBytes - 1024)
      : [];
    return { json, entries };
  }

  private failed(streamName: string, error: unknown): void {
    this.logger.warn('snapshot not written; loads read a longer tail until the next one', {
      streamName,
      error,
    });
    this.observer.failed(streamName, 'snapshot', error);
  }
}
