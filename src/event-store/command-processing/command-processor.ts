import { performance } from 'node:perf_hooks';
import {
  BACKWARDS,
  END,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AppendResult,
  type EventData,
  type EventStoreDBClient,
} from '@eventstore/db-client';
import { ConcurrencyConflictError, EventStoreUnavailableError } from './command-processing.errors';
import type { Decider, DomainEvent, EventMetadata, SnapshotJournal } from './decider';
import { toEventData } from './event-envelope';
import {
  JournalStore,
  SnapshotStore,
  defaultJournalStreamName,
  defaultSnapshotStreamName,
} from './snapshot-store';

/** What a caller gets once the store has acknowledged the command (or it needed no event). */
export interface CommandOutcome<Result> {
  readonly result: Result;
  readonly streamName: string;
  /**
   * Revision of the command's last event, or of the state it was decided on when it produced none
   * (-1n: the stream does not exist yet).
   */
  readonly streamRevision: bigint;
  /**
   * Commit position of the append that carried the command's events (for a command without events: of
   * its batch's append, else of the last event known in the stream). A read model that has processed
   * this position reflects the command: the read-your-writes token.
   */
  readonly commitPosition: bigint | undefined;
  readonly eventCount: number;
}

export interface ExecuteOptions {
  /** Merged into the metadata of every event of the command: correlation, causation, actor, request id. */
  readonly metadata?: EventMetadata;
}

export interface SnapshotOptions {
  /** Write a snapshot once this many events were appended since the last one. */
  readonly every: number;
  /** Snapshot stream of a stream; default `ledger-p1` → `ledgersnapshot-p1`. */
  readonly streamName?: (streamName: string) => string;
}

/** Small hooks for metrics and logs; each is optional and must not throw. */
export interface CommandProcessorObserver {
  /** `commands`: those that waited on this append (reads and refusals settled before it are not counted). */
  onAppend?(info: { streamName: string; commands: number; events: number; durationMs: number }): void;
  onConflict?(info: { streamName: string; attempt: number }): void;
  onLoad?(info: { streamName: string; events: number; fromSnapshot: boolean; durationMs: number }): void;
  /** A snapshot journal was read and restored into a state loaded from a snapshot. */
  onJournalRestored?(info: { streamName: string; entries: number; durationMs: number }): void;
  onSnapshot?(info: { streamName: string; revision: bigint; durationMs: number }): void;
  onFailure?(info: { streamName: string; stage: Stage; error: unknown }): void;
}

type Stage = 'load' | 'append' | 'evolve' | 'snapshot' | 'journal';

export interface CommandProcessorLogger {
  warn(message: string, details: Record<string, unknown>): void;
}

export interface CommandProcessorOptions<State, Command, Event extends DomainEvent, Result> {
  readonly client: EventStoreDBClient;
  readonly decider: Decider<State, Command, Event, Result>;
  /** Most commands decided together and appended in one call. Default 500. */
  readonly maxBatchCommands?: number;
  /** Rough cap on a batch's event payload (data + metadata, UTF-8). Default 900 KiB, under the 1 MiB append limit of EventStoreDB. */
  readonly maxBatchBytes?: number;
  /** Retries of a batch that met a concurrent writer before its commands fail. Default 5. */
  readonly maxConflictRetries?: number;
  /** Streams whose folded state stays in memory, least recently used evicted first. Default 10,000. */
  readonly maxCachedStreams?: number;
  /** Default `{every: 500}` when the decider has `toSnapshot` and `fromSnapshot`; `false` turns them off. */
  readonly snapshots?: SnapshotOptions | false;
  /** Per-append deadline; the client's default (10 s) when absent. */
  readonly appendDeadlineMs?: number;
  /**
   * True when no other process ever appends to these streams (a store this process owns): a cached
   * state is then always current. Default false: before deciding a batch on a cached state, the
   * stream's new events (usually none) are read and folded, so reads and refusals, which settle
   * without an append, reflect every write another process acknowledged before they arrived.
   */
  readonly exclusiveWriter?: boolean;
  readonly observer?: CommandProcessorObserver;
  /** Where failed snapshot writes are reported. Default `console`. */
  readonly logger?: CommandProcessorLogger;
}

interface PendingCommand<Command, Result> {
  readonly command: Command;
  readonly metadata: EventMetadata | undefined;
  readonly resolve: (outcome: CommandOutcome<Result>) => void;
  readonly reject: (error: unknown) => void;
}

/** A stream's state folded up to `revision`. */
interface FoldedStream<State> {
  state: State;
  revision: bigint;
  commitPosition: bigint | undefined;
  /** Set while the state lacks its snapshot journal, being read in the background. */
  journal?: PendingJournal;
}

/** A journal read started after a load from a snapshot; settles once, never rejects. */
interface PendingJournal {
  readonly snapshotRevision: bigint;
  readonly started: number;
  readonly read: Promise<void>;
  entries?: readonly unknown[];
  error?: unknown;
}

interface StreamSlot<State, Command, Result> {
  readonly streamName: string;
  /** Undefined until loaded, and again whenever it cannot be trusted (an append of unknown outcome). */
  folded: FoldedStream<State> | undefined;
  readonly queue: PendingCommand<Command, Result>[];
  working: boolean;
  snapshotRevision: bigint;
  snapshotStreamCapped: boolean;
  snapshotInFlight: boolean;
  /** Events between snapshots; doubled each time the state was too big for one snapshot event. */
  snapshotEvery: bigint;
  /** The next load ignores the snapshot: its journal did not restore. */
  skipSnapshot: boolean;
  /** The journal in the store holds what the state gained through this revision (-1n: nothing known). */
  journalThrough: bigint;
  /** `$maxAge` was set on the journal stream by this process. */
  journalAged: boolean;
}

type Verdict<Command, Result> =
  | { readonly pending: PendingCommand<Command, Result>; readonly ok: false; readonly error: unknown }
  | {
      readonly pending: PendingCommand<Command, Result>;
      readonly ok: true;
      readonly result: Result;
      readonly revision: bigint;
      readonly eventCount: number;
    };

interface DecidedBatch<Command, Result> {
  readonly verdicts: Verdict<Command, Result>[];
  /**
   * How many leading verdicts were reached before any event of the batch: they rest on durable state
   * only, so they need not wait for the append.
   */
  readonly settledOnDurableState: number;
  readonly events: EventData[];
  /** Commands pushed out by the byte cap, to be decided in the next batch. */
  readonly deferred: PendingCommand<Command, Result>[];
}

/**
 * Loads read the tail after the snapshot at roughly 15k events/s through the client, so a tail of at
 * most 500 events keeps a cold load under ~50 ms (docs/command-processing.md has the figures).
 */
const DEFAULT_SNAPSHOT_EVERY = 500;

const consoleLogger: CommandProcessorLogger = {
  warn: (message, details) => console.warn(message, details),
};

/**
 * The one command-handling loop: load a stream, fold, decide, append with the expected revision.
 *
 * Commands of one stream are queued and drained by a single worker, which decides everything waiting
 * against the cached state and appends the accepted events in one call. A hot stream therefore costs
 * one round trip per batch rather than per command, and no two decisions on a stream ever race inside
 * this process. Races with other processes are caught by the expected revision: the batch is decided
 * again on the caught-up state, a bounded number of times. Nothing is acknowledged before the store
 * acknowledged it.
 */
export class CommandProcessor<State, Command, Event extends DomainEvent, Result> {
  private readonly client: EventStoreDBClient;
  private readonly decider: Decider<State, Command, Event, Result>;
  private readonly maxBatchCommands: number;
  private readonly maxBatchBytes: number;
  private readonly maxConflictRetries: number;
  private readonly maxCachedStreams: number;
  private readonly appendDeadlineMs: number | undefined;
  private readonly exclusiveWriter: boolean;
  private readonly observer: CommandProcessorObserver;
  private readonly logger: CommandProcessorLogger;
  private readonly snapshots: { readonly store: SnapshotStore; readonly every: bigint } | undefined;
  private readonly snapshotVersion: number;
  private readonly journal:
    { readonly store: JournalStore; readonly part: SnapshotJournal<State, Command> } | undefined;

  /** Insertion order is recency order: a used slot is moved to the end. */
  private readonly slots = new Map<string, StreamSlot<State, Command, Result>>();
  private readonly workers = new Set<Promise<void>>();
  private readonly snapshotWrites = new Set<Promise<void>>();
  private readonly journalReads = new Set<Promise<void>>();
  private closed = false;

  constructor(options: CommandProcessorOptions<State, Command, Event, Result>) {
    this.client = options.client;
    this.decider = options.decider;
    this.maxBatchCommands = positive(options.maxBatchCommands ?? 500, 'maxBatchCommands');
    this.maxBatchBytes = positive(options.maxBatchBytes ?? 900 * 1024, 'maxBatchBytes');
    this.maxConflictRetries = options.maxConflictRetries ?? 5;
    this.maxCachedStreams = positive(options.maxCachedStreams ?? 10_000, 'maxCachedStreams');
    this.appendDeadlineMs = options.appendDeadlineMs;
    this.exclusiveWriter = options.exclusiveWriter ?? false;
    this.observer = options.observer ?? {};
    this.logger = options.logger ?? consoleLogger;
    this.snapshotVersion = options.decider.snapshotVersion ?? 1;

    const canSnapshot = Boolean(options.decider.toSnapshot && options.decider.fromSnapshot);
    if (options.snapshots && !canSnapshot) {
      throw new Error('snapshots need a decider with both toSnapshot and fromSnapshot');
    }
    const snapshotOptions = options.snapshots ?? (canSnapshot ? { every: DEFAULT_SNAPSHOT_EVERY } : false);
    this.snapshots = snapshotOptions
      ? {
          store: new SnapshotStore(this.client, snapshotOptions.streamName ?? defaultSnapshotStreamName),
          every: BigInt(positive(snapshotOptions.every, 'snapshots.every')),
        }
      : undefined;
    const part = options.decider.snapshotJournal;
    this.journal =
      this.snapshots && part
        ? {
            store: new JournalStore(this.client, (streamName) =>
              defaultJournalStreamName(streamName, part.name),
            ),
            part,
          }
        : undefined;
  }

  /**
   * Decides `command` on the stream and appends its events. Resolves once they are durable; rejects
   * with the decider's own error when the command is refused (nothing recorded), with
   * `ConcurrencyConflictError` when the stream kept changing under us, or with
   * `EventStoreUnavailableError` when the store did not confirm (outcome unknown).
   */
  execute(
    streamName: string,
    command: Command,
    options: ExecuteOptions = {},
  ): Promise<CommandOutcome<Result>> {
    if (this.closed) {
      return Promise.reject(new EventStoreUnavailableError(streamName, 'the command processor is closed'));
    }
    return new Promise<CommandOutcome<Result>>((resolve, reject) => {
      const slot = this.slotFor(streamName);
      slot.queue.push({ command, metadata: options.metadata, resolve, reject });
      if (!slot.working) this.startWorker(slot);
    });
  }

  /** Streams currently cached. */
  get cachedStreams(): number {
    return this.slots.size;
  }

  /** Refuses new commands, then waits for queued commands and snapshot writes to settle. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.workers.size > 0 || this.snapshotWrites.size > 0 || this.journalReads.size > 0) {
      await Promise.allSettled([...this.workers, ...this.snapshotWrites, ...this.journalReads]);
    }
  }

  private slotFor(streamName: string): StreamSlot<State, Command, Result> {
    const existing = this.slots.get(streamName);
    if (existing) {
      this.slots.delete(streamName);
      this.slots.set(streamName, existing);
      return existing;
    }
    this.evictIdle(this.maxCachedStreams - 1);
    const slot = this.newSlot(streamName);
    this.slots.set(streamName, slot);
    return slot;
  }

  private newSlot(streamName: string): StreamSlot<State, Command, Result> {
    return {
      streamName,
      folded: undefined,
      queue: [],
      working: false,
      snapshotRevision: -1n,
      snapshotStreamCapped: false,
      snapshotInFlight: false,
      snapshotEvery: this.snapshots?.every ?? 0n,
      skipSnapshot: false,
      journalThrough: -1n,
      journalAged: false,
    };
  }

  /** Busy slots are skipped: their worker holds them, so the cache may briefly exceed its bound. */
  private evictIdle(target: number): void {
    if (this.slots.size <= target) return;
    for (const [name, slot] of this.slots) {
      if (this.slots.size <= target) return;
      if (!slot.working && slot.queue.length === 0) this.slots.delete(name);
    }
  }

  private startWorker(slot: StreamSlot<State, Command, Result>): void {
    slot.working = true;
    // Start on the next microtask so that commands sent in the same tick (a batch route) share a batch.
    const worker = Promise.resolve()
      .then(() => this.drain(slot))
      .finally(() => {
        this.workers.delete(worker);
        this.evictIdle(this.maxCachedStreams);
      });
    this.workers.add(worker);
  }

  private async drain(slot: StreamSlot<State, Command, Result>): Promise<void> {
    try {
      while (slot.queue.length > 0) {
        const batch = slot.queue.splice(0, this.maxBatchCommands);
        try {
          await this.runBatch(slot, batch);
        } catch (error) {
          // A bug of ours must not wedge the stream: forget the state and fail what is unsettled.
          slot.folded = undefined;
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      // In the same synchronous step as the last empty-queue check, so no command can slip in between.
      slot.working = false;
    }
  }

  private async runBatch(
    slot: StreamSlot<State, Command, Result>,
    batch: PendingCommand<Command, Result>[],
  ): Promise<void> {
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      let folded: FoldedStream<State>;
      try {
        // Retries have just caught up (or reloaded); a fresh load is current by construction.
        if (attempt === 1 && slot.folded && !this.exclusiveWriter) await this.catchUp(slot, slot.folded);
        folded = slot.folded ?? (await this.load(slot));
      } catch (error) {
        slot.folded = undefined;
        this.report(slot.streamName, 'load', error);
        return this.rejectAll(pending, this.unavailable(slot.streamName, 'could not load the stream', error));
      }
      if (folded.journal) {
        const ready = await this.awaitJournal(slot, folded, pending);
        if (ready === 'failed') return;
        if (ready === 'reload') continue;
        if (ready < pending.length) {
          // Only the leading commands that need no journal go now; the rest wait for it in the queue.
          slot.queue.unshift(...pending.slice(ready));
          pending = pending.slice(0, ready);
        }
      }

      const beforeBatch = this.decider.clone
        ? {
            state: this.decider.clone(folded.state),
            revision: folded.revision,
            commitPosition: folded.commitPosition,
            journal: folded.journal,
          }
        : undefined;
      let decided: DecidedBatch<Command, Result>;
      try {
        decided = this.decideBatch(slot.streamName, folded, pending);
      } catch (error) {
        // evolve threw halfway through a fold: the cached state is no longer a fold of anything.
        slot.folded = undefined;
        this.report(slot.streamName, 'evolve', error);
        return this.rejectAll(pending, error);
      }
      if (decided.deferred.length > 0) {
        slot.queue.unshift(...decided.deferred);
        pending = pending.slice(0, pending.length - decided.deferred.length);
      }
      // Reads and refusals decided before the batch's first event answer now, not after the append:
      // a guard's read then costs no round trip.
      const early = decided.settledOnDurableState;
      this.settle(slot.streamName, decided.verdicts.slice(0, early), folded.commitPosition);
      if (decided.events.length === 0) return;
      pending = pending.slice(early);
      const verdicts = decided.verdicts.slice(early);

      const started = performance.now();
      let appended: AppendResult;
      try {
        appended = await this.client.appendToStream(slot.streamName, decided.events, {
          expectedRevision: folded.revision < 0n ? NO_STREAM : folded.revision,
          ...(this.appendDeadlineMs === undefined ? {} : { deadline: this.appendDeadlineMs }),
        });
        if (!appended.success) {
          // A client built with `throwOnAppendFailure: false` reports the conflict instead of throwing.
          throw new WrongExpectedVersionError(undefined, {
            streamName: slot.streamName,
            expected: folded.revision,
            current: appended.nextExpectedRevision,
          });
        }
      } catch (error) {
        // The batch's events were folded into the cached state but are not (knowingly) in the store.
        slot.folded = beforeBatch;
        if (!(error instanceof WrongExpectedVersionError)) {
          slot.folded = undefined;
          this.report(slot.streamName, 'append', error);
          return this.rejectAll(
            pending,
            this.unavailable(slot.streamName, 'the append was not confirmed', error),
          );
        }
        this.notify(() => this.observer.onConflict?.({ streamName: slot.streamName, attempt }));
        const exhausted = attempt > this.maxConflictRetries;
        // Writers that collided would collide again at once: a short random pause spreads them out.
        if (!exhausted) await jitter(attempt);
        if (beforeBatch) {
          try {
            await this.foldTail(slot.streamName, beforeBatch);
          } catch (readError) {
            slot.folded = undefined;
            this.report(slot.streamName, 'load', readError);
            return this.rejectAll(
              pending,
              this.unavailable(slot.streamName, 'could not catch up', readError),
            );
          }
        }
        if (exhausted) {
          // Only the commands that wanted to append lost the race. A read, an idempotent repeat or a
          // refusal riding in the same batch was decided on state that included their events, so it
          // goes back to the head of the queue and is decided again on the stream as it is now
          // (caught up just above): a read never answers 409.
          const lost = verdicts.filter((verdict) => verdict.ok && verdict.eventCount > 0);
          const again = verdicts.filter((verdict) => !verdict.ok || verdict.eventCount === 0);
          this.rejectAll(
            lost.map((verdict) => verdict.pending),
            new ConcurrencyConflictError(slot.streamName, attempt),
          );
          slot.queue.unshift(...again.map((verdict) => verdict.pending));
          return;
        }
        continue;
      }

      folded.revision = appended.nextExpectedRevision;
      folded.commitPosition = appended.position?.commit ?? folded.commitPosition;
      this.notify(() =>
        this.observer.onAppend?.({
          streamName: slot.streamName,
          commands: pending.length,
          events: decided.events.length,
          durationMs: performance.now() - started,
        }),
      );
      this.settle(slot.streamName, verdicts, folded.commitPosition);
      this.maybeSnapshot(slot);
      return;
    }
  }

  /**
   * Decides the commands in order, each on the state left by the ones before it. A refused command is
   * simply skipped: its decision changed nothing, and its events are folded only on success.
   */
  private decideBatch(
    streamName: string,
    folded: FoldedStream<State>,
    pending: readonly PendingCommand<Command, Result>[],
  ): DecidedBatch<Command, Result> {
    const verdicts: Verdict<Command, Result>[] = [];
    const events: EventData[] = [];
    let revision = folded.revision;
    let bytes = 0;
    let settledOnDurableState = 0;
    for (let i = 0; i < pending.length; i++) {
      const command = pending[i];
      let decision: { readonly events: readonly Event[]; readonly result: Result };
      try {
        decision = this.decider.decide(command.command, folded.state, {
          streamName,
          streamRevision: revision,
        });
      } catch (error) {
        verdicts.push({ pending: command, ok: false, error });
        if (events.length === 0) settledOnDurableState++;
        continue;
      }
      const eventData = decision.events.map((event) => toEventData(event, command.metadata));
      const size = eventData.reduce((sum, event) => sum + payloadBytes(event), 0);
      if (events.length > 0 && bytes + size > this.maxBatchBytes) {
        return { verdicts, settledOnDurableState, events, deferred: pending.slice(i) };
      }
      for (const event of decision.events) folded.state = this.decider.evolve(folded.state, event);
      bytes += size;
      revision += BigInt(decision.events.length);
      events.push(...eventData);
      verdicts.push({
        pending: command,
        ok: true,
        result: decision.result,
        revision,
        eventCount: decision.events.length,
      });
      if (events.length === 0) settledOnDurableState++;
    }
    return { verdicts, settledOnDurableState, events, deferred: [] };
  }

  private settle(
    streamName: string,
    verdicts: readonly Verdict<Command, Result>[],
    commitPosition: bigint | undefined,
  ): void {
    for (const verdict of verdicts) {
      if (!verdict.ok) {
        verdict.pending.reject(verdict.error);
        continue;
      }
      verdict.pending.resolve({
        result: verdict.result,
        streamName,
        streamRevision: verdict.revision,
        commitPosition,
        eventCount: verdict.eventCount,
      });
    }
  }

  private rejectAll(pending: readonly PendingCommand<Command, Result>[], error: unknown): void {
    for (const command of pending) command.reject(error);
  }

  /**
   * Restores the snapshot journal into a state loaded from a snapshot, once it has been read. Until
   * then answers how many leading commands of `pending` the decider can decide without it, and waits
   * for the read only when that is none. `failed`: the read failed, `pending` was rejected and the
   * state dropped. `reload`: the journal would not restore, so the stream is loaded again without
   * its snapshot (a full fold, as for a snapshot that does not restore).
   */
  private async awaitJournal(
    slot: StreamSlot<State, Command, Result>,
    folded: FoldedStream<State>,
    pending: readonly PendingCommand<Command, Result>[],
  ): Promise<number | 'failed' | 'reload'> {
    const journal = folded.journal!;
    const part = this.journal!.part;
    if (journal.entries === undefined && journal.error === undefined) {
      let ready = 0;
      if (part.decidableWithout) {
        while (ready < pending.length && part.decidableWithout(pending[ready].command)) ready++;
      }
      if (ready > 0) return ready;
      await journal.read;
    }
    if (journal.error !== undefined) {
      if (slot.folded === folded) slot.folded = undefined;
      this.report(slot.streamName, 'journal', journal.error);
      this.rejectAll(
        pending,
        this.unavailable(slot.streamName, 'could not read the snapshot journal', journal.error),
      );
      return 'failed';
    }
    try {
      folded.state = part.restore(folded.state, journal.entries!, journal.snapshotRevision);
    } catch (error) {
      this.logger.warn('ignoring a snapshot whose journal does not restore', {
        streamName: slot.streamName,
        error,
      });
      this.report(slot.streamName, 'journal', error);
      slot.folded = undefined;
      slot.skipSnapshot = true;
      return 'reload';
    }
    folded.journal = undefined;
    const entries = journal.entries!.length;
    const durationMs = performance.now() - journal.started;
    this.notify(() =>
      this.observer.onJournalRestored?.({ streamName: slot.streamName, entries, durationMs }),
    );
    return pending.length;
  }

  /** Reads the journal in the background; the returned record settles once and never rejects. */
  private readJournal(streamName: string, snapshotRevision: bigint): PendingJournal {
    const pending: PendingJournal = {
      snapshotRevision,
      started: performance.now(),
      read: this.journal!.store.read(streamName, this.snapshotVersion).then(
        (entries) => {
          pending.entries = entries;
        },
        (error: unknown) => {
          pending.error = error;
        },
      ),
    };
    const read = pending.read.finally(() => this.journalReads.delete(read));
    this.journalReads.add(read);
    return pending;
  }

  /**
   * Newest snapshot (if any and of the current version) plus every event after it. With a snapshot
   * journal the state is returned before the journal is restored: `folded.journal` is then set.
   */
  private async load(slot: StreamSlot<State, Command, Result>): Promise<FoldedStream<State>> {
    const started = performance.now();
    const fromStart = (): FoldedStream<State> => ({
      state: this.decider.initialState(),
      revision: -1n,
      commitPosition: undefined,
    });
    let folded = fromStart();
    let fromSnapshot = false;
    slot.journalThrough = -1n;
    // Asked alongside the snapshot rather than after it: when the stream's last revision is the
    // snapshot's, the tail is known to be empty and the load costs one round trip instead of two.
    const head = this.snapshots ? this.headRevision(slot.streamName) : undefined;
    if (this.snapshots) {
      const snapshot = await this.snapshots.store.read(slot.streamName);
      if (snapshot) {
        slot.snapshotStreamCapped = true;
        slot.snapshotRevision = snapshot.revision;
        // A journaled decider's snapshot without its journal's reach lacks part of the state.
        const complete = !this.journal || snapshot.journalThrough !== undefined;
        if (slot.skipSnapshot || !complete) {
          slot.skipSnapshot = false;
          slot.snapshotRevision = -1n;
        } else if (snapshot.version === this.snapshotVersion) {
          try {
            folded = {
              state: this.decider.fromSnapshot!(snapshot.state),
              revision: snapshot.revision,
              commitPosition: snapshot.commitPosition,
            };
            fromSnapshot = true;
            slot.journalThrough = snapshot.journalThrough ?? -1n;
          } catch (error) {
            this.logger.warn('ignoring a snapshot that does not restore', {
              streamName: slot.streamName,
              error,
            });
            slot.snapshotRevision = -1n;
          }
        } else {
          slot.snapshotRevision = -1n;
        }
      }
    }
    const headRevision = head === undefined ? undefined : await head;
    let tail =
      fromSnapshot && headRevision === folded.revision
        ? { events: 0, streamExists: true }
        : await this.foldTail(slot.streamName, folded);
    if (!tail.streamExists && fromSnapshot) {
      // The stream was deleted after its snapshot was taken: the snapshot describes nothing any more.
      folded = fromStart();
      fromSnapshot = false;
      slot.snapshotRevision = -1n;
      slot.journalThrough = -1n;
      tail = { events: 0, streamExists: false };
    }
    if (fromSnapshot && this.journal) {
      // After the tail, so the answer to the first read never waits for the journal.
      const snapshotRevision = slot.snapshotRevision;
      folded.journal = this.readJournal(slot.streamName, snapshotRevision);
    }
    slot.folded = folded;
    const durationMs = performance.now() - started;
    this.notify(() =>
      this.observer.onLoad?.({ streamName: slot.streamName, events: tail.events, fromSnapshot, durationMs }),
    );
    this.maybeSnapshot(slot);
    return folded;
  }

  /**
   * Brings a cached state up to the stream's head: one read from the next revision, which comes back
   * empty unless another process appended. Without it, a read answered from the cache would not show
   * a write another instance acknowledged a moment ago, and a command refused on the cache (no append,
   * so no expected revision to catch the race) could be refused on a pool or quota that has grown.
   */
  private async catchUp(
    slot: StreamSlot<State, Command, Result>,
    folded: FoldedStream<State>,
  ): Promise<void> {
    const tail = await this.foldTail(slot.streamName, folded);
    // Deleted since we cached it: start again from whatever is there now.
    if (!tail.streamExists && folded.revision >= 0n) slot.folded = undefined;
  }

  /**
   * The revision of the stream's last event, or undefined when that is not known (no stream, or the
   * read failed: the tail read that follows then finds out and reports it). Never rejects.
   */
  private async headRevision(streamName: string): Promise<bigint | undefined> {
    let revision: bigint | undefined;
    try {
      // Drained rather than left early: a read abandoned mid-way keeps the client from disposing.
      for await (const resolved of this.client.readStream(streamName, {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
      })) {
        revision = resolved.event?.revision;
      }
    } catch {
      return undefined;
    }
    return revision;
  }

  /** Folds the stream's events after `folded.revision` into it, in place. */
  private async foldTail(
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
        const event = {
          type: recorded.type,
          data: recorded.data,
          metadata: recorded.metadata,
        } as unknown as Event;
        folded.state = this.decider.evolve(folded.state, event);
        folded.revision = recorded.revision;
        folded.commitPosition = recorded.position?.commit ?? resolved.commitPosition ?? folded.commitPosition;
        events++;
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return { events, streamExists: false };
      throw error;
    }
    return { events, streamExists: true };
  }

  /**
   * Writes a snapshot in the background once enough events have gone by. It is only an optimisation:
   * a failure is logged and the next attempt waits another `every` events. With a snapshot journal,
   * the journal entries for the revisions since the last journaled snapshot are appended first, and
   * the snapshot names how far the journal reaches; a crash in between leaves entries past the older
   * snapshot, which `restore` ignores.
   */
  private maybeSnapshot(slot: StreamSlot<State, Command, Result>): void {
    const folded = slot.folded;
    if (!this.snapshots || !folded || slot.snapshotInFlight) return;
    if (folded.revision - slot.snapshotRevision < slot.snapshotEvery) return;
    // Already logged and reported; the next attempt comes `every` events later.
    this.snapshot(slot, folded).catch(() => undefined);
  }

  /**
   * Snapshots a state folded outside the processor (a tool that wrote the stream itself, such as the
   * benchmark's ledger builder) exactly as the processor snapshots its own streams: the journal
   * entries of every revision, then the snapshot. Rejects when they were not written.
   */
  async writeSnapshot(streamName: string, state: State, revision: bigint): Promise<void> {
    if (!this.snapshots) throw new Error('this processor writes no snapshots');
    const slot = this.newSlot(streamName);
    slot.folded = { state, revision, commitPosition: undefined };
    await this.snapshot(slot, slot.folded);
  }

  /** Serialises the snapshot now and writes it in the background; rejects (once logged) if not written. */
  private snapshot(slot: StreamSlot<State, Command, Result>, folded: FoldedStream<State>): Promise<void> {
    const revision = folded.revision;
    slot.snapshotRevision = revision;
    let state: unknown;
    let entries: unknown[] = [];
    const journalAfter = slot.journalThrough;
    try {
      // Detached now: the client serialises later, and by then the live state has moved on.
      const json = JSON.stringify(this.decider.toSnapshot!(folded.state));
      if (Buffer.byteLength(json) > this.maxBatchBytes) {
        // The store would refuse it: say so, and try again only after twice as many events.
        slot.snapshotEvery *= 2n;
        throw new Error(
          `the snapshot (${Buffer.byteLength(json)} bytes) exceeds ${this.maxBatchBytes} bytes; ` +
            `next attempt in ${slot.snapshotEvery} events`,
        );
      }
      state = JSON.parse(json) as unknown;
      if (this.journal) {
        entries = this.journal.part.entries(folded.state, journalAfter, revision, this.maxBatchBytes - 1024);
      }
    } catch (error) {
      this.snapshotFailed(slot.streamName, error);
      return Promise.reject(error);
    }
    const started = performance.now();
    slot.snapshotInFlight = true;
    const snapshot = {
      revision,
      commitPosition: folded.commitPosition,
      version: this.snapshotVersion,
      state,
      ...(this.journal ? { journalThrough: revision } : {}),
    };
    const journal = this.journal;
    const write = (async () => {
      if (journal && entries.length > 0) {
        const maxAge = slot.journalAged ? undefined : journal.part.maxAgeSeconds;
        await journal.store.append(
          slot.streamName,
          { after: journalAfter, through: revision, version: this.snapshotVersion },
          entries,
          maxAge,
        );
        slot.journalAged = true;
      }
      // Reached even when the snapshot write below fails: the journal itself is in the store.
      if (journal) slot.journalThrough = revision;
      await this.snapshots!.store.write(slot.streamName, snapshot, !slot.snapshotStreamCapped);
    })();
    const settled = write
      .then(
        () => {
          slot.snapshotStreamCapped = true;
          const durationMs = performance.now() - started;
          this.notify(() =>
            this.observer.onSnapshot?.({ streamName: slot.streamName, revision, durationMs }),
          );
        },
        (error: unknown) => this.snapshotFailed(slot.streamName, error),
      )
      .finally(() => {
        slot.snapshotInFlight = false;
        this.snapshotWrites.delete(settled);
      });
    this.snapshotWrites.add(settled);
    return write;
  }

  private snapshotFailed(streamName: string, error: unknown): void {
    this.logger.warn('snapshot not written; loads read a longer tail until the next one', {
      streamName,
      error,
    });
    this.report(streamName, 'snapshot', error);
  }

  private unavailable(streamName: string, what: string, cause: unknown): EventStoreUnavailableError {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new EventStoreUnavailableError(streamName, `${what} (${streamName}): ${reason}`, { cause });
  }

  private report(streamName: string, stage: Stage, error: unknown): void {
    this.notify(() => this.observer.onFailure?.({ streamName, stage, error }));
  }

  /** A faulty metrics hook must not break command handling. */
  private notify(hook: () => void): void {
    try {
      hook();
    } catch {
      return;
    }
  }
}

function payloadBytes(event: EventData): number {
  const data =
    event.data instanceof Uint8Array ? event.data.length : Buffer.byteLength(JSON.stringify(event.data));
  const metadata =
    event.metadata === undefined
      ? 0
      : event.metadata instanceof Uint8Array
        ? event.metadata.length
        : Buffer.byteLength(JSON.stringify(event.metadata));
  return data + metadata + event.type.length;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Up to 2^attempt ms (capped at 50), random: enough to de-synchronise instances racing on one stream. */
function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
