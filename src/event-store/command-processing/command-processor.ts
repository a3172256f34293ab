import type { EventStoreDBClient } from '@eventstore/db-client';
import { BatchAppender } from './batch.appender';
import { BatchDecider } from './batch.decider';
import { EventStoreUnavailableError } from './command-processing.errors';
import {
  SafeObserver,
  consoleLogger,
  type CommandProcessorLogger,
  type CommandProcessorObserver,
} from './command-processor.observer';
import type { Decider, DomainEvent, EventMetadata, PreparedBatch } from './decider';
import type { CommandOutcome } from './outcome.settler';
import { SnapshotStore, defaultSnapshotStreamName } from './snapshot-store';
import { StreamSlotCache, newStreamSlot } from './stream-slot.cache';
import { StreamLoader } from './stream.loader';
import { canSnapshot, type SnapshotSettings } from './snapshot.settings';
import { StreamSnapshotter } from './stream.snapshotter';
import { StreamWorker } from './stream.worker';

export type {
  CommandProcessorLogger,
  CommandProcessorObserver,
  CommandProcessorStage,
} from './command-processor.observer';
export type { CommandOutcome } from './outcome.settler';

export interface ExecuteOptions {
  /** Merged into the metadata of every event of the command: correlation, causation, actor, request id. */
  readonly metadata?: EventMetadata;
}

export interface SnapshotOptions {
  /** Write a snapshot once this many events were appended since the last one. */
  readonly every: number;
  /**
   * For states too big for one event: wait at least this many events per chunk the last snapshot took.
   * Default 500 (a 25 MB state, 28 chunks, is snapshotted every 14,000 events).
   */
  readonly eventsPerChunk?: number;
  /** Snapshot stream of a stream; default `ledger-p1` → `ledgersnapshot-p1`. */
  readonly streamName?: (streamName: string) => string;
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
  /**
   * Link every appended event into its stream's audit chain (`metadata.chain`, docs/audit-chain.md).
   * Default true; `SUBLEDGER_BENCH_AUDIT_CHAIN=off` turns the default off, for the bench's ratio only
   * (refused in production).
   */
  readonly auditChain?: boolean;
  /**
   * Called before each batch is decided (each attempt), with its commands and the state they will be
   * decided on: the place for the I/O a pure decider cannot do, one call per batch rather than per
   * command (the ledger looks up the batch's idempotency keys in its key index and hands the answer
   * to the commands). It may change the state only in ways no decision can tell (dropping what it
   * has just found elsewhere). If it rejects, the batch's commands fail as unavailable. It may run
   * twice on the same commands: ahead, while the batch before them appends (on a state that already
   * holds that batch's events), and again just before they are decided; the second call should keep
   * what the first fetched if it is still good rather than fetch it again.
   */
  readonly prepare?: (batch: PreparedBatch<State, Command>) => Promise<void>;
  readonly observer?: CommandProcessorObserver;
  /** Where failed snapshot writes are reported. Default `console`. */
  readonly logger?: CommandProcessorLogger;
}

/**
 * Loads read the tail after the snapshot at roughly 15k events/s through the client, so a tail of at
 * most 500 events keeps a cold load under ~50 ms (docs/command-processing.md has the figures).
 */
const DEFAULT_SNAPSHOT_EVERY = 500;

/**
 * A chunk is ~900 KiB: 500 events per chunk keeps snapshot bytes under ~2 KB per appended event (about
 * twice a usage event) while a load of the biggest states folds at most 500 events per chunk it read.
 */
const DEFAULT_EVENTS_PER_CHUNK = 500;

/**
 * The one command-handling loop: load a stream, fold, decide, append with the expected revision.
 *
 * Commands of one stream are queued and drained by a single worker, which decides everything waiting
 * against the cached state and appends the accepted events in one call. A hot stream therefore costs
 * one round trip per batch rather than per command, and no two decisions on a stream ever race inside
 * this process. Races with other processes are caught by the expected revision: the batch is decided
 * again on the caught-up state, a bounded number of times. Nothing is acknowledged before the store
 * acknowledged it.
 *
 * This class only wires the parts (docs/command-processing.md, "The parts") and admits commands.
 */
export class CommandProcessor<State, Command, Event extends DomainEvent, Result> {
  private readonly slots: StreamSlotCache<State, Command, Result>;
  private readonly worker: StreamWorker<State, Command, Event, Result>;
  private readonly snapshotter: StreamSnapshotter<State, Command> | undefined;
  private closed = false;

  constructor(options: CommandProcessorOptions<State, Command, Event, Result>) {
    const { client, decider } = options;
    const maxBatchCommands = positive(options.maxBatchCommands ?? 500, 'maxBatchCommands');
    const maxBatchBytes = positive(options.maxBatchBytes ?? 900 * 1024, 'maxBatchBytes');
    const maxConflictRetries = options.maxConflictRetries ?? 5;
    const maxCachedStreams = positive(options.maxCachedStreams ?? 10_000, 'maxCachedStreams');
    const observer = new SafeObserver(options.observer ?? {});
    const logger = options.logger ?? consoleLogger;
    const version = decider.snapshotVersion ?? 1;

    if (options.snapshots && !canSnapshot(decider)) {
      throw new Error('snapshots need a decider with both toSnapshot and fromSnapshot');
    }
    const snapshotOptions =
      options.snapshots ?? (canSnapshot(decider) ? { every: DEFAULT_SNAPSHOT_EVERY } : false);
    let snapshots: SnapshotSettings<State> | undefined;
    if (snapshotOptions && canSnapshot(decider)) {
      snapshots = {
        store: new SnapshotStore(client, snapshotOptions.streamName ?? defaultSnapshotStreamName),
        codec: decider,
        version,
        every: BigInt(positive(snapshotOptions.every, 'snapshots.every')),
        eventsPerChunk: BigInt(
          positive(snapshotOptions.eventsPerChunk ?? DEFAULT_EVENTS_PER_CHUNK, 'snapshots.eventsPerChunk'),
        ),
      };
    }
    this.slots = new StreamSlotCache(maxCachedStreams, snapshots?.every ?? 0n);
    this.snapshotter = snapshots && new StreamSnapshotter(snapshots, maxBatchBytes, observer, logger);
    const loader = new StreamLoader(client, decider, snapshots, observer, logger);
    const appendDeadlineMs = options.appendDeadlineMs;
    this.worker = new StreamWorker(
      {
        slots: this.slots,
        loader,
        decider: new BatchDecider(decider, maxBatchBytes, options.auditChain ?? auditChainByDefault()),
        appender: new BatchAppender(
          client,
          decider,
          loader,
          { maxConflictRetries, appendDeadlineMs },
          observer,
        ),
        snapshotter: this.snapshotter,
        prepare: options.prepare,
      },
      { maxBatchCommands, exclusiveWriter: options.exclusiveWriter ?? false },
      observer,
    );
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
      const slot = this.slots.slotFor(streamName);
      slot.queue.push({ command, metadata: options.metadata, resolve, reject });
      if (!slot.working) this.worker.start(slot);
    });
  }

  /** Streams currently cached. */
  get cachedStreams(): number {
    return this.slots.size;
  }

  /** Refuses new commands, then waits for queued commands and snapshot writes to settle. */
  async close(): Promise<void> {
    this.closed = true;
    for (;;) {
      const inFlight = [...this.worker.inFlight, ...(this.snapshotter?.inFlight ?? [])];
      if (inFlight.length === 0) return;
      await Promise.allSettled(inFlight);
    }
  }

  /**
   * Snapshots a state folded outside the processor (a tool that wrote the stream itself, such as the
   * benchmark's ledger builder) exactly as the processor snapshots its own streams (in chunks if it
   * is big). Rejects when it was not written.
   */
  async writeSnapshot(streamName: string, state: State, revision: bigint): Promise<void> {
    if (!this.snapshotter) throw new Error('this processor writes no snapshots');
    const slot = newStreamSlot<State, Command, Result>(streamName, this.snapshotter.every);
    slot.folded = { state, revision, commitPosition: undefined };
    await this.snapshotter.write(slot, slot.folded);
  }
}

function auditChainByDefault(): boolean {
  if (process.env.SUBLEDGER_BENCH_AUDIT_CHAIN !== 'off') return true;
  if (process.env.NODE_ENV === 'production') {
    throw new Error('SUBLEDGER_BENCH_AUDIT_CHAIN=off is for the bench only and refused in production');
  }
  return false;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}
