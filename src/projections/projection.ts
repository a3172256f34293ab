import type { RecordedDomainEvent } from '../event-store/command-processing/event-envelope';

/**
 * An event as a projection sees it: the envelope helper's recorded event (type, data, metadata,
 * streamName, revision, id) with a position that is always known, since it comes from `$all`.
 */
export interface RecordedEnvelope extends RecordedDomainEvent {
  readonly commitPosition: bigint;
  readonly preparePosition: bigint;
  /**
   * Business time: `metadata.recordedAt` (the service clock, which SUBLEDGER_NOW may move), never the
   * store's own timestamp; parsed once per event for every projection. NaN when the event has none.
   */
  readonly recordedAtMs: number;
}

export function recordedAtMsOf(metadata: Readonly<Record<string, unknown>>, data: unknown): number {
  const fromMetadata = metadata.recordedAt;
  if (typeof fromMetadata === 'string') return Date.parse(fromMetadata);
  const fromData = (data as Record<string, unknown> | null)?.recordedAt;
  return typeof fromData === 'string' ? Date.parse(fromData) : NaN;
}

/** Where in `$all` an event sits; compared commit first, then prepare (events of one append may share a commit). */
export interface LogPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/**
 * A read model as a pure fold over the ledger's events. `evolve` may mutate `state` in place (the
 * runner never keeps an older state around) and must be deterministic: the same events always give the
 * same state, which is what makes a rebuild from the log a valid replacement for a stored state.
 * `version` is bumped whenever `evolve` or the snapshot shape changes: a stored state of another version
 * is thrown away and rebuilt from the start of the log.
 */
export interface Projection<State> {
  readonly name: string;
  readonly version: number;
  initialState(): State;
  evolve(state: State, event: RecordedEnvelope): State;
  /** A detached JSON value; it is serialised at once, while `evolve` goes on mutating the live state. */
  toSnapshot(state: State): unknown;
  fromSnapshot(snapshot: unknown): State;
}

// Projections of different states live side by side in one runner.
export type AnyProjection = Projection<any>;

/** The write side's one stream per parent; snapshot streams (`ledgersnapshot-…`) do not match. */
export const LEDGER_STREAM_PREFIX = 'ledger-';

export function parentIdOfStream(streamName: string): string {
  return streamName.slice(LEDGER_STREAM_PREFIX.length);
}

export interface ProjectionReadOptions {
  /** How long a read waits for a rebuilding projection before `ProjectionRebuildingError` (503). */
  readonly readTimeoutMs: number;
}
