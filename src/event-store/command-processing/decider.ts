/** Free-form event metadata: correlation and causation ids, actor, request id, schema version. */
export type EventMetadata = Record<string, unknown>;

/**
 * An event as the domain sees it. `data` must be plain JSON (no bigint, Date or class instances):
 * `evolve` receives freshly decided events and events read back from the store, and both must fold
 * to the same state.
 */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata?: EventMetadata;
}

/** What a decision knows besides the state: where it is being taken. */
export interface DecisionContext {
  readonly streamName: string;
  /**
   * Revision of the last event folded into the state (-1n when the stream is empty), counting events
   * decided earlier in the same batch; the command's own events will get the revisions after it.
   */
  readonly streamRevision: bigint;
}

/** What `prepare` gets: the stream, its state (folded through `revision`) and the batch's commands, in order. */
export interface PreparedBatch<State, Command> {
  readonly streamName: string;
  readonly state: State;
  readonly revision: bigint;
  readonly commands: readonly Command[];
}

export interface Decision<Event extends DomainEvent, Result> {
  readonly events: readonly Event[];
  readonly result: Result;
}

/**
 * The pure domain logic of one stream. `decide` refuses a command by throwing (the error reaches the
 * caller untouched) and must not change `state`: the processor folds a command's events only after
 * its decision succeeded, so a refused command leaves no trace.
 */
export interface Decider<State, Command, Event extends DomainEvent, Result> {
  initialState(): State;
  /** May mutate `state` in place and return it, or return a new state. */
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State, context: DecisionContext): Decision<Event, Result>;
  /**
   * A cheap independent copy of the state. When present, a batch that loses an optimistic-concurrency
   * race is retried from the copy plus the events appended by the other writer; without it the stream
   * is reloaded (snapshot plus tail). Deciders whose `evolve` never mutates can return `state` itself.
   */
  clone?(state: State): State;
  /** JSON form of the state for snapshots. Both are needed for snapshots to be written and read. */
  toSnapshot?(state: State): unknown;
  fromSnapshot?(snapshot: unknown): State;
  /** Bumped whenever the snapshot shape changes; snapshots of another version are ignored. Default 1. */
  readonly snapshotVersion?: number;
}
