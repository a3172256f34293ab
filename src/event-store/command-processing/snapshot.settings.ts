import type { Decider, DomainEvent } from './decider';
import type { SnapshotStore } from './snapshot-store';

/**
 * How this processor snapshots, settled once from its options and its decider: the snapshotter writes
 * with it, the loader reads with it, so both agree on the stream, the version and the codec.
 */
export interface SnapshotSettings<State> {
  readonly store: SnapshotStore;
  /** The decider itself, so its functions are called on it. */
  readonly codec: SnapshotCodec<State>;
  /** `snapshotVersion` of the decider: snapshots of another one are ignored. */
  readonly version: number;
  readonly every: bigint;
  /** Events between snapshots per chunk the last one took, when that is more than `every`. */
  readonly eventsPerChunk: bigint;
}

/** The two halves of a decider that snapshots, both present. */
export interface SnapshotCodec<State> {
  toSnapshot(state: State): unknown;
  fromSnapshot(snapshot: unknown): State;
}

export function canSnapshot<State, Command, Event extends DomainEvent, Result>(
  decider: Decider<State, Command, Event, Result>,
): decider is Decider<State, Command, Event, Result> & SnapshotCodec<State> {
  return Boolean(decider.toSnapshot && decider.fromSnapshot);
}

/**
 * Events between snapshots of a state stored in `chunks` chunks (0: in its manifest): `every`, or
 * `eventsPerChunk` per chunk when that is more, so the bytes snapshots add stay in proportion to what
 * the stream appends.
 */
export function snapshotInterval(
  settings: Pick<SnapshotSettings<unknown>, 'every' | 'eventsPerChunk'>,
  chunks: number,
): bigint {
  const bySize = settings.eventsPerChunk * BigInt(chunks);
  return bySize > settings.every ? bySize : settings.every;
}
