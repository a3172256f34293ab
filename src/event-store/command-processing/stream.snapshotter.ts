import { performance } from 'node:perf_hooks';
import type { CommandProcessorLogger, SafeObserver } from './command-processor.observer';
import type { JournalSettings, SnapshotSettings } from './snapshot.settings';
import type { StreamSnapshot } from './snapshot-store';
import type { FoldedStream, StreamSlot } from './stream-slot.cache';

/**
 * Writes snapshots (and the journal entries before them) in the background. A snapshot is only an
 * optimisation: a failure is logged and the next attempt waits another `every` events. With a snapshot
 * journal, the entries for the revisions since the last journaled snapshot are appended first, and the
 * snapshot names how far the journal reaches; a crash in between leaves entries past the older
 * snapshot, which `restore` ignores.
 */
export class StreamSnapshotter<State, Command> {
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly settings: SnapshotSettings<State>,
    private readonly journal: JournalSettings<State, Command> | undefined,
    /** The store's append limit, less headroom: a bigger snapshot would only be refused. */
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
    let detached: { readonly state: unknown; readonly entries: unknown[] };
    try {
      detached = this.detach(slot, folded.state, journalAfter, revision);
    } catch (error) {
      this.failed(slot.streamName, error);
      return Promise.reject(error);
    }
    const started = performance.now();
    marks.inFlight = true;
    const snapshot: StreamSnapshot = {
      revision,
      commitPosition: folded.commitPosition,
      version: this.settings.version,
      state: detached.state,
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
      await this.settings.store.write(slot.streamName, snapshot, !marks.streamCapped);
    })();
    const settled = write
      .then(
        () => {
          marks.streamCapped = true;
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
   * The snapshot and journal entries as JSON values of their own: the client serialises them later,
   * and by then the live state has moved on.
   */
  private detach<Result>(
    slot: StreamSlot<State, Command, Result>,
    state: State,
    journalAfter: bigint,
    revision: bigint,
  ): { readonly state: unknown; readonly entries: unknown[] } {
    const json = JSON.stringify(this.settings.codec.toSnapshot(state));
    if (Buffer.byteLength(json) > this.maxBytes) {
      // The store would refuse it: say so, and try again only after twice as many events.
      slot.snapshot.every *= 2n;
      throw new Error(
        `the snapshot (${Buffer.byteLength(json)} bytes) exceeds ${this.maxBytes} bytes; ` +
          `next attempt in ${slot.snapshot.every} events`,
      );
    }
    const detached: unknown = JSON.parse(json);
    const entries = this.journal
      ? this.journal.part.entries(state, journalAfter, revision, this.maxBytes - 1024)
      : [];
    return { state: detached, entries };
  }

  private failed(streamName: string, error: unknown): void {
    this.logger.warn('snapshot not written; loads read a longer tail until the next one', {
      streamName,
      error,
    });
    this.observer.failed(streamName, 'snapshot', error);
  }
}
