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
  /**
   * The part of the state that is too big for one snapshot event and that only some commands need
   * (the ledger's idempotency keys). When present, `toSnapshot` leaves it out and the processor keeps
   * it in a journal stream beside the snapshot, restored in the background after a cold load.
   */
  readonly snapshotJournal?: SnapshotJournal<State, Command>;
}

/**
 * The deferred part of a decider's snapshot: kept in `<category><name>-<id>` (`ledger-p1` with name
 * `keys` → `ledgerkeys-p1`) as entries that each cover what the state gained over a range of revisions.
 * Before each snapshot the processor appends the entries for the revisions since the previous one, so
 * the snapshot plus the whole journal plus the stream's tail make the full state.
 *
 * A load reads the core snapshot and the tail, so the state answers at once; the journal is read in
 * the background and handed to `restore` before the first command that `decidableWithout` does not
 * accept. Journals may hold duplicate entries and entries past the snapshot (a crash between the
 * journal append and the snapshot): `restore` must merge idempotently and ignore what the tail supplies.
 */
export interface SnapshotJournal<State, Command> {
  /** Inserted after the category: `keys` → `ledgerkeys-p1`. */
  readonly name: string;
  /**
   * `$maxAge` of the journal stream: the store drops older entries. Whatever an entry holds must be of
   * no use to any decision once the entry is this old. Absent: entries are kept for ever.
   */
  readonly maxAgeSeconds?: number;
  /**
   * What `state` holds of revisions (after, through], as fresh JSON values (not shared with the state:
   * the client serialises them later) of at most about `maxBytes` each once serialised.
   */
  entries(state: State, after: bigint, through: bigint, maxBytes: number): unknown[];
  /**
   * Merges the journal's entries, in journal order, into a state restored from a snapshot at
   * `snapshotRevision` and possibly folded further since; returns the state (mutated or new).
   */
  restore(state: State, entries: readonly unknown[], snapshotRevision: bigint): State;
  /** Whether `command` may be decided before the journal is restored. Default: no command may. */
  decidableWithout?(command: Command): boolean;
}
