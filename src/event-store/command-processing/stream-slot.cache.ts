import type { WrittenManifest } from './snapshot-store';
import type { PendingCommand } from './outcome.settler';

/** The per-stream cache: one slot per stream, least recently used evicted first. */
export class StreamSlotCache<State, Command, Result> {
  /** Insertion order is recency order: a used slot is moved to the end. */
  private readonly slots = new Map<string, StreamSlot<State, Command, Result>>();

  constructor(
    private readonly maxCachedStreams: number,
    private readonly snapshotEvery: bigint,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  /** The stream's slot, now the most recently used; a new one (making room first) if not cached. */
  slotFor(streamName: string): StreamSlot<State, Command, Result> {
    const existing = this.slots.get(streamName);
    if (existing) {
      this.slots.delete(streamName);
      this.slots.set(streamName, existing);
      return existing;
    }
    this.evictIdle(this.maxCachedStreams - 1);
    const slot = newStreamSlot<State, Command, Result>(streamName, this.snapshotEvery);
    this.slots.set(streamName, slot);
    return slot;
  }

  /** Busy slots are skipped: their worker holds them, so the cache may briefly exceed its bound. */
  evictIdle(target = this.maxCachedStreams): void {
    if (this.slots.size <= target) return;
    for (const [name, slot] of this.slots) {
      if (this.slots.size <= target) return;
      if (!slot.working && slot.queue.length === 0) this.slots.delete(name);
    }
  }
}

export function newStreamSlot<State, Command, Result>(
  streamName: string,
  snapshotEvery: bigint,
): StreamSlot<State, Command, Result> {
  return {
    streamName,
    folded: undefined,
    queue: [],
    working: false,
    snapshot: {
      revision: -1n,
      inFlight: false,
      every: snapshotEvery,
    },
  };
}

/** A stream's state folded up to `revision`. */
export interface FoldedStream<State> {
  state: State;
  revision: bigint;
  commitPosition: bigint | undefined;
  /**
   * The audit-chain hash of the event at `revision` (docs/audit-chain.md): the next event's `prev`.
   * Undefined when that event carries no link (an empty stream, or history written before the chain):
   * the next event then starts the chain from its genesis.
   */
  chainHead?: string | undefined;
}

/**
 * What this process knows of a stream's snapshots. Kept while the slot is cached, across reloads of
 * its state.
 */
export interface SnapshotMarks {
  /** Revision of the newest snapshot known to be usable (-1n: none). */
  revision: bigint;
  inFlight: boolean;
  /** Events between snapshots: more for a state stored in many chunks (`snapshotInterval`). */
  every: bigint;
  /** The manifest this process appended last, so the next write cuts without reading it back. */
  written?: WrittenManifest | undefined;
}

/** Everything the processor holds for one stream: its queue, its folded state, its snapshot marks. */
export interface StreamSlot<State, Command, Result> {
  readonly streamName: string;
  /** Undefined until loaded, and again whenever it cannot be trusted (an append of unknown outcome). */
  folded: FoldedStream<State> | undefined;
  readonly queue: PendingCommand<Command, Result>[];
  /** A worker is draining the queue. */
  working: boolean;
  readonly snapshot: SnapshotMarks;
}
