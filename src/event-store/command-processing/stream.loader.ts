import { performance } from 'node:perf_hooks';
import {
  BACKWARDS,
  END,
  START,
  StreamNotFoundError,
  type EventStoreDBClient,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { chainLinkOf } from './audit-chain';
import type { CommandProcessorLogger, SafeObserver } from './command-processor.observer';
import type { Decider, DomainEvent } from './decider';
import type { FoldedStream, StreamSlot } from './stream-slot.cache';
import { snapshotInterval, type SnapshotSettings } from './snapshot.settings';

/** Reads a stream's state from the store: newest snapshot, then the events after it. */
export class StreamLoader<State, Command, Event extends DomainEvent, Result> {
  constructor(
    private readonly client: EventStoreDBClient,
    private readonly decider: Decider<State, Command, Event, Result>,
    private readonly snapshots: SnapshotSettings<State> | undefined,
    private readonly observer: SafeObserver,
    private readonly logger: CommandProcessorLogger,
  ) {}

  /** Newest snapshot that loads (if any) plus every event after it, cached in the slot. */
  async load(slot: StreamSlot<State, Command, Result>): Promise<FoldedStream<State>> {
    const started = performance.now();
    const marks = slot.snapshot;
    let folded = this.fromStart();
    let fromSnapshot = false;
    // Asked alongside the snapshot rather than after it: when the stream's last revision is the
    // snapshot's, the tail is known to be empty and the load costs one round trip instead of two.
    const head = this.snapshots ? this.headEvent(slot.streamName) : undefined;
    if (this.snapshots) {
      const restored = await this.fromSnapshots(slot, this.snapshots);
      if (restored) {
        folded = restored;
        fromSnapshot = true;
      }
    }
    const headEvent = head === undefined ? undefined : await head;
    let tail =
      fromSnapshot && headEvent?.revision === folded.revision
        ? { events: 0, streamExists: true }
        : await this.foldTail(slot.streamName, folded);
    if (!tail.streamExists && fromSnapshot) {
      // The stream was deleted after its snapshot was taken: the snapshot describes nothing any more.
      folded = this.fromStart();
      fromSnapshot = false;
      marks.revision = -1n;
      tail = { events: 0, streamExists: false };
    }
    if (fromSnapshot && tail.events === 0) {
      // The snapshot's revision is the stream's last: its event holds the chain's head.
      folded.chainHead =
        headEvent?.revision === folded.revision
          ? headEvent.chainHash
          : (await this.eventAt(slot.streamName, folded.revision))?.chainHash;
    }
    slot.folded = folded;
    this.observer.loaded({
      streamName: slot.streamName,
      events: tail.events,
      fromSnapshot,
      durationMs: performance.now() - started,
    });
    return folded;
  }

  /**
   * Brings a cached state up to the stream's head: one read from the next revision, which comes back
   * empty unless another process appended. Without it, a read answered from the cache would not show
   * a write another instance acknowledged a moment ago, and a command refused on the cache (no append,
   * so no expected revision to catch the race) could be refused on a pool or quota that has grown.
   */
  async catchUp(slot: StreamSlot<State, Command, Result>, folded: FoldedStream<State>): Promise<void> {
    const tail = await this.foldTail(slot.streamName, folded);
    // Deleted since we cached it: start again from whatever is there now.
    if (!tail.streamExists && folded.revision >= 0n) slot.folded = undefined;
  }

  /** Folds the stream's events after `folded.revision` into it, in place. */
  async foldTail(
    streamName: string,
    folded: FoldedStream<State>,
  ): Promise<{ events: number; streamExists: boolean }> {
    let events = 0;
    try {
      const read = this.client.readStream(streamName, {
        fromRevision: folded.revision < 0n ? START : folded.revision + 1n,
      });
      for await (const resolved of read) {
        const recorded = resolved.event;
        if (!recorded) continue;
        folded.state = this.decider.evolve(folded.state, asDomainEvent<Event>(recorded));
        folded.revision = recorded.revision;
        folded.commitPosition = recorded.position?.commit ?? resolved.commitPosition ?? folded.commitPosition;
        folded.chainHead = chainLinkOf(recorded.metadata)?.hash;
        events++;
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return { events, streamExists: false };
      throw error;
    }
    return { events, streamExists: true };
  }

  private fromStart(): FoldedStream<State> {
    return { state: this.decider.initialState(), revision: -1n, commitPosition: undefined };
  }

  /**
   * The state of the newest snapshot that checks out, else of the one before it, else undefined (the
   * stream is folded from the start). A snapshot is passed over when it is of another version, its
   * chunks are missing or do not match its manifest, or it does not restore.
   */
  private async fromSnapshots(
    slot: StreamSlot<State, Command, Result>,
    snapshots: SnapshotSettings<State>,
  ): Promise<FoldedStream<State> | undefined> {
    const marks = slot.snapshot;
    const manifests = await snapshots.store.manifests(slot.streamName);
    marks.revision = -1n;
    if (manifests.length > 0) marks.every = snapshotInterval(snapshots, manifests[0].chunks);
    for (const manifest of manifests) {
      if (manifest.version !== snapshots.version) continue;
      try {
        const folded: FoldedStream<State> = {
          state: snapshots.codec.fromSnapshot(await manifest.state()),
          revision: manifest.revision,
          commitPosition: manifest.commitPosition,
        };
        marks.revision = manifest.revision;
        return folded;
      } catch (error) {
        this.logger.warn('passing over a snapshot that does not load', {
          streamName: slot.streamName,
          revision: manifest.revision,
          error,
        });
        this.observer.failed(slot.streamName, 'snapshot', error);
      }
    }
    return undefined;
  }

  /**
   * The revision and audit-chain hash of the stream's last event, or undefined when that is not known
   * (no stream, or the read failed: the tail read that follows then finds out and reports it). Never
   * rejects.
   */
  private async headEvent(streamName: string): Promise<HeadEvent | undefined> {
    try {
      return await this.readOne(streamName, { direction: BACKWARDS, fromRevision: END, maxCount: 1 });
    } catch {
      return undefined;
    }
  }

  /** The revision and audit-chain hash of the event at `revision`, or undefined if there is none. */
  private async eventAt(streamName: string, revision: bigint): Promise<HeadEvent | undefined> {
    try {
      return await this.readOne(streamName, { fromRevision: revision, maxCount: 1 });
    } catch (error) {
      if (error instanceof StreamNotFoundError) return undefined;
      throw error;
    }
  }

  private async readOne(
    streamName: string,
    options: Parameters<EventStoreDBClient['readStream']>[1],
  ): Promise<HeadEvent | undefined> {
    let found: HeadEvent | undefined;
    // Drained rather than left early: a read abandoned mid-way keeps the client from disposing.
    for await (const resolved of this.client.readStream(streamName, options)) {
      const event = resolved.event;
      if (event) found = { revision: event.revision, chainHash: chainLinkOf(event.metadata)?.hash };
    }
    return found;
  }
}

interface HeadEvent {
  readonly revision: bigint;
  readonly chainHash: string | undefined;
}

/**
 * An event read back from the decision stream, as `evolve` sees it. The store knows no event types:
 * everything in the stream was decided as an `Event` by this decider (or one it replaced), so this is
 * the one place where the stored shape is taken for the decider's type.
 */
function asDomainEvent<Event extends DomainEvent>(recorded: NonNullable<ResolvedEvent['event']>): Event {
  const event: { type: string; data: unknown; metadata: unknown } = {
    type: recorded.type,
    data: recorded.data,
    metadata: recorded.metadata,
  };
  return event as Event;
}
