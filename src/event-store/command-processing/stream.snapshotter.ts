import { performance } from 'node:perf_hooks';
import type { CommandProcessorLogger, SafeObserver } from './command-processor.observer';
import { snapshotInterval, type SnapshotSettings } from './snapshot.settings';
import type { FoldedStream, StreamSlot } from './stream-slot.cache';

/**
 * Writes snapshots in the background. A snapshot is only an optimisation: a failure is logged and the
 * next attempt waits another `every` events.
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
    let json: string;
    try {
      // Serialised now, as its own text: the client sends it later, and by then the state has moved on.
      json = JSON.stringify(this.settings.codec.toSnapshot(folded.state));
    } catch (error) {
      this.failed(slot.streamName, error);
      return Promise.reject(error);
    }
    const started = performance.now();
    marks.inFlight = true;
    const snapshot = { revision, commitPosition: folded.commitPosition, version: this.settings.version };
    const write = (async () => {
      const previous = marks.written;
      // Unknown while this write is in the air: a failure leaves it unknown, and the next write reads.
      marks.written = undefined;
      const { chunks, written } = await this.settings.store.write(
        slot.streamName,
        snapshot,
        json,
        this.maxBytes,
        previous,
      );
      marks.written = written;
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

  private failed(streamName: string, error: unknown): void {
    this.logger.warn('snapshot not written; loads read a longer tail until the next one', {
      streamName,
      error,
    });
    this.observer.failed(streamName, 'snapshot', error);
  }
}
