import {
  BACKWARDS,
  END,
  START,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type EventStoreDBClient,
} from '@eventstore/db-client';
import { fromResolvedEvent } from '../event-store/command-processing/event-envelope';
import {
  comparePositions,
  LEDGER_STREAM_PREFIX,
  type AnyProjection,
  type LogPosition,
  type RecordedEnvelope,
  recordedEnvelopeOf,
} from './projection';
import { ProjectionRebuildingError, ProjectionWriteError } from './projection.errors';
import { readLogChunks } from './log-reading/log-chunks';
import { readLogChunksInThread } from './log-reading/threaded-log-reader';
import type { ProjectionStatus, ReadModelProgress } from './read-model-progress';
import { CaughtUpGate, PositionWaiters, wakeableDelay } from './waiting';
import type { PoolClient } from 'pg';
import type { Database } from '../database/database';

export interface ProjectionRunnerLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ProjectionRunnerOptions {
  readonly client: EventStoreDBClient;
  readonly projections: readonly AnyProjection[];
  readonly database: Database;
  /** At most this many events go into one transaction. */
  readonly batchSize?: number;
  /**
   * Once caught up, how long a batch may wait for more events before it commits (default 10 ms).
   * Live traffic then goes in a few transactions a second instead of one per handful of events, each
   * of which costs the same dozen statements. A reader waiting for a position (`want`) cuts it short.
   */
  readonly lingerMs?: number;
  /**
   * The rebuild tool: empty every projection's tables and fold the whole log into them in ONE
   * transaction, committed by `stop`. Until then readers see the old rows (PostgreSQL's snapshots)
   * and a running service's batches wait on the checkpoint rows this holds; afterwards they skip
   * what the rebuild already wrote.
   */
  readonly fresh?: boolean;
  /**
   * Catch up by paging `readAll` (dropping other streams on this side) before the live subscription
   * takes over from the last event read. On the client 6.2.1 a subscription delivers each event through
   * an async transform, about a quarter slower than a read (docs/projections.md has the figures), and a
   * rebuild should run at the speed of a read. Default true; false catches up through the subscription.
   */
  readonly catchUpByReading?: boolean;
  /**
   * Catch up on a reader thread of its own with its own client on this connection string
   * (`readLogChunksInThread`): the client's decoding then runs beside the folding and the writes, on
   * another core. Unset: the runner's client reads on the runner's thread.
   */
  readonly readerThread?: string;
  /**
   * A catch-up that folded at least this many events (a first start on a long log, a version bump)
   * vacuums and analyses the projections' tables before the runner opens for reads (default 100,000;
   * decision 83). Below it, PostgreSQL's autovacuum keeps up on its own.
   */
  readonly settleAfterEvents?: number;
  /** Pause before resubscribing after the subscription failed, or before retrying a failed transaction. */
  readonly retryDelayMs?: number;
  readonly logger?: ProjectionRunnerLogger;
  /**
   * Called after the committed position moved or the runner caught up: how a projector in a worker
   * thread tells the API's thread (it reads `committedPosition` and `status()` then).
   */
  readonly onProgress?: () => void;
}

interface Slot {
  readonly projection: AnyProjection;
  /** The checkpoint row as of the last transaction: where a restart resumes. */
  checkpoint: LogPosition | null;
  rebuilding: boolean;
  applied: number;
}

const DEFAULT_BATCH = 4_000;
const DEFAULT_SETTLE_AFTER = 100_000;
const DEFAULT_LINGER_MS = 10;
/** A batch this large is written by one transaction per projection, side by side (catch-up, rebuild). */
const PARALLEL_FROM = 1_000;
/** The rebuild tool: batches a projection may have waiting before reading waits for it. */
const FRESH_QUEUED = 3;

const silentLogger: ProjectionRunnerLogger = { log: () => {}, warn: () => {}, error: () => {} };

/**
 * Runs every registered projection off ONE catch-up-then-live subscription to `$all`, filtered on the
 * server to `ledger-` streams, so each event is read and parsed once, and writes what they change to
 * PostgreSQL in batches: one transaction per batch holds every projection's rows AND its checkpoint
 * row, so a crash can neither skip nor double-count an event (SPEC §9).
 *
 * The checkpoint row, not this process, is the truth: each transaction locks the rows (`FOR UPDATE`)
 * and writes only the events after them. Several instances (or the rebuild tool) can run side by side
 * on one database: whoever commits first wins, the others skip what was already written. Reading goes
 * on while a batch commits (one batch in flight), so a rebuild runs at the speed of the slower of the
 * two rather than their sum.
 */
export class ProjectionRunner implements ReadModelProgress {
  private readonly slots = new Map<string, Slot>();
  private readonly slotList: Slot[];
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly retryDelayMs: number;
  private readonly logger: ProjectionRunnerLogger;
  private subscription: AllStreamSubscription | null = null;
  private loop: Promise<void> | null = null;
  private started = false;
  private stopping = false;
  private readonly caughtUp = new CaughtUpGate();
  /** The server said it reached the end; we are caught up once every event before that is committed. */
  private caughtUpSignalled = false;
  private waitingForNext = false;
  /** Caught up once everything delivered up to here is committed. */
  private caughtUpAt: LogPosition | null = null;
  /** The last event of `$all` when the runner started: reaching it also means caught up. */
  private startupEnd: LogPosition | null = null;
  /** Position of the last event delivered (ledger or not). */
  private processed: LogPosition | null = null;
  /** Position up to which everything delivered is committed (what read-your-writes waits for). */
  private committed: LogPosition | null = null;
  /** Ledger events delivered and not committed yet, in log order. */
  private pending: RecordedEnvelope[] = [];
  /** Where the pending batch ends (the last delivered event, ledger or not); null when nothing is pending. */
  private pendingUpTo: LogPosition | null = null;
  private draining: Promise<void> | null = null;
  /** What stopped the rebuild tool's transactions (a live runner retries instead and never fails). */
  private failure: Error | null = null;
  /** The tables being vacuumed after a large catch-up (`settle`), before the runner opens for reads. */
  private settling: Promise<void> | null = null;
  private readonly settleAbort = new AbortController();
  /** Woken after every transaction the drain loop ends (committed or failed): backpressure waits here. */
  private commitWaiters: (() => void)[] = [];
  /** The rebuild tool's transactions, one per projection (so they write side by side). */
  private freshClients: Map<string, PoolClient> | null = null;
  /**
   * The rebuild tool's writes not finished yet, per projection, oldest first: each projection takes the
   * batches in order at its own pace, so a quick one does not wait for the slowest at every batch.
   */
  private readonly freshWrites = new Map<Slot, Promise<void>[]>();
  private delivered = 0;
  private readonly positionWaiters = new PositionWaiters();
  private stopWake: (() => void) | null = null;
  /** Ends the linger of the batch being gathered. */
  private lingerWake: (() => void) | null = null;
  /** The highest position a reader waits for and that is not committed yet: no linger until it is. */
  private wanted: bigint | null = null;

  constructor(private readonly options: ProjectionRunnerOptions) {
    for (const projection of options.projections) {
      if (this.slots.has(projection.name)) throw new Error(`Two projections are named ${projection.name}`);
      this.slots.set(projection.name, { projection, checkpoint: null, rebuilding: true, applied: 0 });
    }
    this.slotList = [...this.slots.values()];
    this.batchSize = options.batchSize ?? DEFAULT_BATCH;
    this.lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.retryDelayMs = options.retryDelayMs ?? 1_000;
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Reads the checkpoint rows (making missing ones), then subscribes and returns at once: catching up
   * goes on in the background, and queries wait for it through `whenCaughtUp`.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('The projection runner was already started');
    this.started = true;
    if (this.options.fresh) {
      await this.options.database.transaction((client) => this.ensureCheckpointRows(client));
      this.freshClients = new Map();
      for (const slot of this.slotList) {
        const client = await this.options.database.pool.connect();
        this.freshClients.set(slot.projection.name, client);
        await client.query('BEGIN');
        // Taken first, so no other writer commits between our view of the log's end and our commit.
        await this.lockCheckpoint(client, slot);
        for (const table of slot.projection.tables) await client.query(`DELETE FROM ${table}`);
      }
      this.logger.log('Rebuilding every projection from the start of the log, each in one transaction');
    } else {
      await this.options.database.transaction(async (client) => {
        await this.ensureCheckpointRows(client);
        const rows = await this.readCheckpoints(client);
        for (const slot of this.slotList) {
          const { name, version } = slot.projection;
          slot.checkpoint = rows.get(name) ?? null;
          slot.rebuilding = slot.checkpoint === null;
          this.logger.log(
            slot.checkpoint
              ? `Projection ${name} v${version} resumes after position ${slot.checkpoint.commit}`
              : `Projection ${name} v${version} has no checkpoint of this version; rebuilding`,
          );
        }
      });
    }
    this.processed = this.resumePosition();
    this.committed = this.processed;
    // The service must start even while the event store is unreachable (health then says not ready);
    // finding the log's end and subscribing go on in the background until the store answers.
    this.loop = this.findStartupEnd().then(() => (this.stopping ? undefined : this.run()));
  }

  private async ensureCheckpointRows(client: PoolClient): Promise<void> {
    await client.query(
      `INSERT INTO read_model_checkpoints (projection, version, commit_position, prepare_position)
       SELECT name, version, -1, -1 FROM unnest($1::text[], $2::int[]) AS t(name, version)
       ON CONFLICT DO NOTHING`,
      [
        this.slotList.map((slot) => slot.projection.name),
        this.slotList.map((slot) => slot.projection.version),
      ],
    );
  }

  /** Each projection's checkpoint row (null: nothing written yet). */
  private async readCheckpoints(
    client: PoolClient,
    forUpdate = false,
  ): Promise<Map<string, LogPosition | null>> {
    const result = await client.query<{
      projection: string;
      commit_position: string;
      prepare_position: string;
    }>(
      `SELECT projection, commit_position, prepare_position FROM read_model_checkpoints
       WHERE (projection, version) IN (SELECT * FROM unnest($1::text[], $2::int[]))
       ORDER BY projection${forUpdate ? ' FOR UPDATE' : ''}`,
      [
        this.slotList.map((slot) => slot.projection.name),
        this.slotList.map((slot) => slot.projection.version),
      ],
    );
    const rows = new Map<string, LogPosition | null>();
    for (const row of result.rows) {
      const commit = BigInt(row.commit_position);
      rows.set(row.projection, commit < 0n ? null : { commit, prepare: BigInt(row.prepare_position) });
    }
    return rows;
  }

  private async findStartupEnd(): Promise<void> {
    while (!this.stopping) {
      try {
        this.startupEnd = await this.lastPositionOfLog();
        const from = this.processed;
        if (this.startupEnd === null || (from !== null && comparePositions(from, this.startupEnd) >= 0)) {
          this.markCaughtUp();
        }
        return;
      } catch (error) {
        this.logger.warn(
          `The event store did not answer (${error instanceof Error ? error.message : String(error)}); ` +
            `projections retry in ${this.retryDelayMs} ms`,
        );
        await this.pause();
      }
    }
  }

  private pause(): Promise<void> {
    return wakeableDelay(this.retryDelayMs, (wake) => (this.stopWake = wake));
  }

  /**
   * Stops the subscription and commits what was delivered. With `commit: false` (tests simulating a
   * crash) the pending batch is dropped, as a crash would drop it: the checkpoint rows say where to
   * resume. The rebuild tool's one transaction is committed here (or rolled back without `commit`).
   */
  async stop(opts: { commit?: boolean } = {}): Promise<void> {
    if (!this.started || this.stopping) return;
    const commit = opts.commit ?? true;
    this.stopping = true;
    this.stopWake?.();
    this.settleAbort.abort();
    await this.settling;
    const subscription = this.subscription;
    if (subscription) {
      await subscription.unsubscribe();
      // Ends the iteration even if the cancelled call never reports an end.
      subscription.destroy();
    }
    await this.loop;
    if (!commit) {
      this.pending = [];
      this.pendingUpTo = null;
    }
    await this.draining;
    try {
      if (commit && this.pendingUpTo !== null && !this.failure) await this.drain(1);
    } finally {
      await this.freshWritesEnded();
      if (this.freshClients) {
        const clients = [...this.freshClients.values()];
        this.freshClients = null;
        const end = commit && this.caughtUp.isOpen && !this.failure ? 'COMMIT' : 'ROLLBACK';
        for (const client of clients) {
          try {
            await client.query(end);
          } finally {
            client.release();
          }
        }
      }
    }
    // Nobody may take a stopped runner's state for a caught-up one.
    this.caughtUp.refuse(new ProjectionRebuildingError('projections', 0));
    this.positionWaiters.rejectAll();
  }

  isCaughtUp(): boolean {
    return this.caughtUp.isOpen;
  }

  /**
   * Resolves once the runner has committed everything the log held when it started. Rejects with
   * `ProjectionRebuildingError` (→ 503) after `timeoutMs`; 0 only checks.
   */
  whenCaughtUp(timeoutMs: number, projectionName = 'projections'): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.caughtUp.wait(timeoutMs, projectionName);
  }

  /**
   * Read-your-writes: resolves once every projection has committed the event at `commitPosition` (the
   * position the command side got back from its append to a `ledger-` stream). Rejects with
   * `ProjectionLagError` after `timeoutMs`.
   */
  waitForPosition(commitPosition: bigint, timeoutMs: number): Promise<void> {
    if (this.hasCommitted(commitPosition)) return Promise.resolve();
    if (timeoutMs > 0) this.want(commitPosition);
    return this.positionWaiters.wait(commitPosition, timeoutMs);
  }

  /**
   * Someone waits to read `commitPosition` (read-your-writes, here or on the API's thread): the batches
   * up to it commit without lingering for more events.
   */
  want(commitPosition: bigint): void {
    if (this.hasCommitted(commitPosition)) return;
    if (this.wanted === null || commitPosition > this.wanted) this.wanted = commitPosition;
    this.lingerWake?.();
  }

  /** For a query on `name`'s tables: waits (bounded) until the read model has caught up. */
  async readable(name: string, timeoutMs: number): Promise<void> {
    this.slot(name);
    await this.whenCaughtUp(timeoutMs, name);
  }

  status(): ProjectionStatus[] {
    return this.slotList.map((slot) => ({
      name: slot.projection.name,
      version: slot.projection.version,
      rebuilding: slot.rebuilding && !this.caughtUp.isOpen,
      caughtUp: this.caughtUp.isOpen,
      checkpoint: slot.checkpoint,
      eventsApplied: slot.applied,
    }));
  }

  /** Everything delivered up to here is committed (or written by no projection). */
  get committedPosition(): LogPosition | null {
    return this.committed;
  }

  /** Events delivered by the subscription since start (ledger or not). */
  get eventsDelivered(): number {
    return this.delivered;
  }

  private slot(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`No projection named ${name} is registered`);
    return slot;
  }

  /** The lowest checkpoint, or null (start of the log) when any projection has none. */
  private resumePosition(): LogPosition | null {
    let lowest: LogPosition | null = null;
    for (const slot of this.slotList) {
      if (slot.checkpoint === null) return null;
      if (lowest === null || comparePositions(slot.checkpoint, lowest) < 0) lowest = slot.checkpoint;
    }
    return lowest;
  }

  private async lastPositionOfLog(): Promise<LogPosition | null> {
    let last: LogPosition | null = null;
    // Read to the end rather than returning from inside the loop: a read left half-consumed keeps the
    // client's `dispose` waiting for it forever.
    for await (const resolved of this.options.client.readAll({
      direction: BACKWARDS,
      fromPosition: END,
      maxCount: 1,
    })) {
      const position = resolved.event?.position ?? resolved.commitPosition;
      if (position !== undefined)
        last = typeof position === 'bigint' ? { commit: position, prepare: position } : position;
    }
    return last;
  }

  private async run(): Promise<void> {
    if (this.options.catchUpByReading ?? true) {
      try {
        await this.catchUpByReading();
      } catch (error) {
        // The rebuild tool has no subscription to fall back on: it fails, naming the cause.
        if (this.options.fresh) return this.fail(error);
        // The subscription below catches up from wherever the read stopped.
        this.logger.warn(
          `Catching up by reading failed (${error instanceof Error ? error.message : String(error)}); ` +
            'the subscription catches up instead',
        );
      }
    }
    // The rebuild tool stops at the end of the log as it found it.
    if (this.options.fresh) return;
    while (!this.stopping) {
      const from = this.processed;
      const subscription = this.options.client.subscribeToAll({
        fromPosition: from === null ? START : { commit: from.commit, prepare: from.prepare },
        filter: streamNameFilter({ prefixes: [LEDGER_STREAM_PREFIX] }),
      });
      this.subscription = subscription;
      subscription.on('caughtUp', () => {
        this.caughtUpSignalled = true;
        if (this.waitingForNext && subscription.readableLength === 0) this.requestCaughtUp();
      });
      try {
        await this.consume(subscription);
        if (!this.stopping) this.logger.warn('The projection subscription ended; resubscribing');
      } catch (error) {
        if (this.stopping) break;
        this.logger.error(
          `The projection subscription failed (${error instanceof Error ? error.message : String(error)}); ` +
            `resubscribing in ${this.retryDelayMs} ms`,
        );
      }
      if (this.stopping) break;
      await subscription.unsubscribe().catch(() => undefined);
      subscription.destroy();
      await this.pause();
    }
  }

  /**
   * Reads `$all` from the resume position to its end as the read meets it (`readLogChunks`, on a thread
   * of its own when `readerThread` is set), handing batches to the database as they fill.
   */
  private async catchUpByReading(): Promise<void> {
    const from = this.processed;
    // A stop, or a failed rebuild, reads no further than the page being read.
    const stopped = () => this.stopping || this.failure !== null;
    const chunks = this.options.readerThread
      ? readLogChunksInThread(this.options.readerThread, from, stopped)
      : readLogChunks(this.options.client, from, stopped);
    // Never left early: a read is consumed to its end (the client's `dispose` waits for it otherwise).
    for await (const chunk of chunks) {
      if (stopped()) continue;
      for (const envelope of chunk.envelopes) {
        this.pending.push(envelope);
        this.deliver(positionOf(envelope), 1);
      }
      const others = chunk.events - chunk.envelopes.length;
      if (chunk.last !== null && others > 0) this.deliver(chunk.last, others);
      if (chunk.end) {
        this.requestCaughtUp();
        this.kick();
        await this.draining;
        return;
      }
      if (this.pending.length >= this.batchSize) {
        this.kick();
        // One batch commits while the next is read; reading waits only when two more are waiting.
        while (this.pending.length >= 3 * this.batchSize && this.draining) await this.nextCommit();
      }
    }
  }

  private async consume(subscription: AllStreamSubscription): Promise<void> {
    const iterator = subscription[Symbol.asyncIterator]();
    for (;;) {
      // Every event the server sent before its caught-up signal was pushed before the signal, so once the
      // buffer is empty they have all been delivered.
      if (this.caughtUpSignalled && subscription.readableLength === 0) this.requestCaughtUp();
      this.waitingForNext = true;
      const next = await iterator.next();
      this.waitingForNext = false;
      if (next.done || this.stopping) return;
      this.apply(next.value as AllStreamResolvedEvent);
      this.kick();
      // A database that cannot keep up (or is down) holds the subscription back rather than memory.
      while (this.pending.length >= 4 * this.batchSize && this.draining) await this.nextCommit();
    }
  }

  private apply(resolved: AllStreamResolvedEvent): void {
    const recorded = fromResolvedEvent(resolved);
    const position = resolved.event?.position;
    if (!recorded || !position) return;
    // An event of a type this build does not know is written by no projection; checkpoints pass it.
    const envelope = recordedEnvelopeOf(recorded, position);
    if (envelope) this.pending.push(envelope);
    this.deliver(position, 1);
  }

  /** `events` more were delivered, the last of them at `position`. */
  private deliver(position: LogPosition, events: number): void {
    this.delivered += events;
    this.processed = position;
    this.pendingUpTo = position;
    // Nothing uncommitted before it (pending keeps events until their batch commits): an event no
    // projection writes is as good as committed for readers; its checkpoint follows with the next batch.
    if (this.pending.length === 0 && !this.freshWriting()) {
      this.committed = position;
      this.positionWaiters.release(this.committed.commit);
      this.options.onProgress?.();
    }
    if (
      !this.caughtUp.isOpen &&
      this.startupEnd !== null &&
      comparePositions(position, this.startupEnd) >= 0
    ) {
      this.requestCaughtUp();
    }
  }

  private nextCommit(): Promise<void> {
    return new Promise((resolve) => this.commitWaiters.push(resolve));
  }

  /** Only the rebuild tool's one transaction can fail for good: its waiters hear why, at once. */
  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    this.logger.error(`Writing the read models failed for good: ${this.failure.message}`);
    this.caughtUp.refuse(this.failure);
  }

  private wakeCommitWaiters(): void {
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Starts committing the pending batch unless a commit is already running (it takes the rest after). */
  private kick(): void {
    if (this.draining || this.pendingUpTo === null) return;
    this.draining = this.drain()
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.draining = null;
        this.wakeCommitWaiters();
      });
  }

  /**
   * Commits pending batches until none is left (or `rounds` were tried). A failed transaction (the
   * database restarting) keeps its events pending and is retried after a pause: nothing delivered is
   * dropped, and nothing is committed twice since the checkpoint rows decide.
   */
  private async drain(rounds = Number.POSITIVE_INFINITY): Promise<void> {
    for (let round = 0; round < rounds && this.pendingUpTo !== null; round++) {
      if (this.wanted !== null && this.hasCommitted(this.wanted)) this.wanted = null;
      if (
        this.caughtUp.isOpen &&
        !this.stopping &&
        this.lingerMs > 0 &&
        this.wanted === null &&
        this.pending.length < this.batchSize
      ) {
        await wakeableDelay(this.lingerMs, (wake) => (this.lingerWake = wake));
      }
      const take = Math.min(this.pending.length, this.batchSize);
      const events = this.pending.slice(0, take);
      const upTo = take < this.pending.length ? events[take - 1] : this.pendingUpTo;
      const upToPosition: LogPosition = 'commitPosition' in upTo ? positionOf(upTo) : upTo;
      try {
        await this.commit(events, upToPosition);
      } catch (error) {
        this.wakeCommitWaiters();
        // The rebuild tool does not retry: its one transaction is lost, and `fail` says so once.
        if (this.freshClients) throw error;
        this.logger.error(
          `Writing ${events.length} events to the read models failed (${error instanceof Error ? error.message : String(error)}); ` +
            `retrying in ${this.retryDelayMs} ms`,
        );
        if (this.stopping) return;
        await this.pause();
        continue;
      }
      this.pending = this.pending.slice(take);
      const upToPending = this.pendingUpTo;
      if (
        this.pending.length === 0 &&
        (upToPending === null || comparePositions(upToPosition, upToPending) >= 0)
      ) {
        this.pendingUpTo = null;
      }
      // The rebuild tool's batch is only handed over: it counts as written once every projection wrote it.
      if (this.freshClients) this.wakeCommitWaiters();
      else this.markCommitted(upToPosition);
    }
  }

  /** Everything up to `upTo` is written by every projection: readers waiting for it may go on. */
  private markCommitted(upTo: LogPosition): void {
    if (this.committed === null || comparePositions(upTo, this.committed) > 0) this.committed = upTo;
    this.wakeCommitWaiters();
    this.positionWaiters.release(this.committed.commit);
    if (this.caughtUpAt !== null && comparePositions(upTo, this.caughtUpAt) >= 0) this.markCaughtUp();
    this.options.onProgress?.();
  }

  /**
   * Every projection's rows for the events after its checkpoint row, and that row. A small batch (live
   * traffic) is one transaction for all of them: a handful of statements. A large one (catching up, the
   * rebuild) is one transaction per projection, side by side on their own connections, so the database
   * works on them in parallel; one that fails fails the batch, which is retried whole, and the ones that
   * committed then skip it (their rows say so).
   */
  private async commit(events: readonly RecordedEnvelope[], upTo: LogPosition): Promise<void> {
    if (this.freshClients) return this.handToFreshWriters(events, upTo);
    if (events.length < PARALLEL_FROM) {
      // One statement locks every row and one moves them, whatever the number of projections.
      await this.options.database.transaction(async (client) => {
        const checkpoints = await this.readCheckpoints(client, true);
        const moved: Slot[] = [];
        for (const slot of this.slotList) {
          if (
            await this.writeAfter(client, slot, checkpoints.get(slot.projection.name) ?? null, events, upTo)
          ) {
            moved.push(slot);
          }
        }
        if (moved.length === 0) return;
        await client.query(
          `WITH moved AS (
             UPDATE read_model_checkpoints SET commit_position = $3, prepare_position = $4, updated_at = now()
             WHERE (projection, version) IN (SELECT * FROM unnest($1::text[], $2::int[])))
           ${NOTIFY_CHECKPOINTS}`,
          [
            moved.map((slot) => slot.projection.name),
            moved.map((slot) => slot.projection.version),
            upTo.commit.toString(),
            upTo.prepare.toString(),
          ],
        );
      });
      return;
    }
    const results = await Promise.allSettled(
      this.slotList.map((slot) => this.commitSlot(slot, events, upTo)),
    );
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * The rebuild tool: the batch goes to every projection's queue (each writes its batches in order, in
   * its own transaction), and this returns once no queue holds more than FRESH_QUEUED batches, which
   * bounds the memory. The position counts as written when the last projection wrote it; the first
   * failure fails the rebuild (`fail`), and the rest of the queues are skipped.
   */
  private async handToFreshWriters(events: readonly RecordedEnvelope[], upTo: LogPosition): Promise<void> {
    if (this.failure) throw this.failure;
    let writing = this.slotList.length;
    for (const slot of this.slotList) {
      const queue = this.freshWrites.get(slot) ?? [];
      this.freshWrites.set(slot, queue);
      const previous = queue.length > 0 ? queue[queue.length - 1] : Promise.resolve();
      const write: Promise<void> = previous
        .then(() => (this.failure ? undefined : this.commitSlot(slot, events, upTo)))
        .catch((error: unknown) => this.fail(error))
        .finally(() => {
          queue.splice(queue.indexOf(write), 1);
          if (--writing === 0 && !this.failure) this.markCommitted(upTo);
        });
      queue.push(write);
    }
    for (const queue of this.freshWrites.values()) {
      while (queue.length > FRESH_QUEUED) await queue[0];
    }
    if (this.failure) throw this.failure;
  }

  /** Some batch handed to the rebuild tool's projections is not written by all of them yet. */
  private freshWriting(): boolean {
    for (const queue of this.freshWrites.values()) if (queue.length > 0) return true;
    return false;
  }

  /** Waits until every projection of the rebuild tool has ended the writes handed to it. */
  private async freshWritesEnded(): Promise<void> {
    for (const queue of this.freshWrites.values()) {
      while (queue.length > 0) await queue[queue.length - 1];
    }
  }

  private async commitSlot(
    slot: Slot,
    events: readonly RecordedEnvelope[],
    upTo: LogPosition,
  ): Promise<void> {
    const freshClient = this.freshClients?.get(slot.projection.name);
    try {
      if (freshClient) await this.writeSlot(freshClient, slot, events, upTo);
      else await this.options.database.transaction((client) => this.writeSlot(client, slot, events, upTo));
    } catch (error) {
      const { name, version } = slot.projection;
      throw new ProjectionWriteError(
        name,
        version,
        events[0]?.commitPosition ?? upTo.commit,
        upTo.commit,
        error,
      );
    }
  }

  /** Inside a transaction: the slot's rows for the events after its (locked) checkpoint row, and the row. */
  private async writeSlot(
    client: PoolClient,
    slot: Slot,
    events: readonly RecordedEnvelope[],
    upTo: LogPosition,
  ): Promise<void> {
    const checkpoint = this.freshClients ? slot.checkpoint : await this.lockCheckpoint(client, slot);
    if (!(await this.writeAfter(client, slot, checkpoint, events, upTo))) return;
    await client.query(
      `WITH moved AS (
         UPDATE read_model_checkpoints SET commit_position = $3, prepare_position = $4, updated_at = now()
         WHERE projection = $1 AND version = $2)
       ${this.freshClients ? 'SELECT 1' : NOTIFY_CHECKPOINTS}`,
      [slot.projection.name, slot.projection.version, upTo.commit.toString(), upTo.prepare.toString()],
    );
  }

  /**
   * The slot's rows for the events after `checkpoint` (its locked row); false when the row already
   * stands at or past `upTo`, so there is nothing to write and the row stays. The caller moves the row.
   */
  private async writeAfter(
    client: PoolClient,
    slot: Slot,
    checkpoint: LogPosition | null,
    events: readonly RecordedEnvelope[],
    upTo: LogPosition,
  ): Promise<boolean> {
    if (checkpoint !== null && comparePositions(checkpoint, upTo) >= 0) {
      slot.checkpoint = checkpoint;
      return false;
    }
    const fresh =
      checkpoint === null
        ? events
        : events.filter((event) => comparePositions(positionOf(event), checkpoint) > 0);
    if (fresh.length > 0) await slot.projection.write(client, fresh);
    slot.checkpoint = upTo;
    slot.applied += fresh.length;
    return true;
  }

  /** One projection's checkpoint row (null: nothing written yet), locked until the transaction ends. */
  private async lockCheckpoint(client: PoolClient, slot: Slot): Promise<LogPosition | null> {
    const { rows } = await client.query<{ commit_position: string; prepare_position: string }>(
      `SELECT commit_position, prepare_position FROM read_model_checkpoints
       WHERE projection = $1 AND version = $2 FOR UPDATE`,
      [slot.projection.name, slot.projection.version],
    );
    const commit = rows.length === 0 ? -1n : BigInt(rows[0].commit_position);
    return commit < 0n ? null : { commit, prepare: BigInt(rows[0].prepare_position) };
  }

  /**
   * The blue/green switch: a projection that caught up points its views at its own tables, in one
   * transaction, unless a view already shows a newer version (an older instance starting late must not
   * point it back).
   */
  private async pointViews(): Promise<void> {
    await this.options.database.transaction(async (client) => {
      for (const slot of this.slotList) {
        for (const [view, table] of Object.entries(slot.projection.views ?? {})) {
          const current = await client.query<{ definition: string }>(
            `SELECT definition FROM pg_views WHERE schemaname = current_schema() AND viewname = $1`,
            [view],
          );
          const shown = Number(VERSION_OF_TABLE.exec(current.rows[0]?.definition ?? '')?.[1] ?? -1);
          const ours = Number(VERSION_OF_TABLE.exec(table)?.[1] ?? -1);
          if (current.rows.length > 0 && shown >= ours) continue;
          await client.query(`DROP VIEW IF EXISTS ${view}`);
          await client.query(`CREATE VIEW ${view} AS SELECT * FROM ${table}`);
          await client.query(`GRANT SELECT ON ${view} TO subledger_auditor`);
          this.logger.log(`The view ${view} now shows ${table}`);
        }
      }
    });
  }

  private hasCommitted(commit: bigint): boolean {
    return this.committed !== null && this.committed.commit >= commit;
  }

  /** Caught up once what was delivered so far is committed. */
  private requestCaughtUp(): void {
    if (this.caughtUp.isOpen) return;
    const at = this.processed;
    if (at === null || (this.committed !== null && comparePositions(this.committed, at) >= 0)) {
      this.markCaughtUp();
      return;
    }
    this.caughtUpAt = at;
  }

  private markCaughtUp(): void {
    if (this.caughtUp.isOpen || this.settling) return;
    this.caughtUpAt = null;
    const folded = Math.max(...this.slotList.map((slot) => slot.applied));
    if (!this.options.fresh && folded >= (this.options.settleAfterEvents ?? DEFAULT_SETTLE_AFTER)) {
      // Readers keep waiting (as while catching up) until the freshly loaded tables are settled.
      this.settling = this.settle(folded).finally(() => {
        this.settling = null;
        this.openForReads();
      });
      return;
    }
    this.openForReads();
  }

  private async settle(folded: number): Promise<void> {
    const started = Date.now();
    const tables = this.slotList.flatMap((slot) => slot.projection.tables);
    try {
      await this.options.database.vacuumAnalyze(tables, this.settleAbort.signal);
      this.logger.log(
        `Vacuumed and analysed ${tables.length} tables after folding ${folded} events (${Date.now() - started} ms)`,
      );
    } catch (error) {
      if (this.stopping) return;
      // Not a reason to keep the read models closed: autovacuum will do it later.
      this.logger.warn(
        `Could not vacuum the read models after catching up (${error instanceof Error ? error.message : String(error)}); ` +
          'autovacuum will',
      );
    }
  }

  private openForReads(): void {
    if (this.stopping || !this.caughtUp.open()) return;
    this.logger.log(`Projections caught up after ${this.delivered} events`);
    if (!this.options.fresh) {
      void this.pointViews().catch((error: unknown) =>
        this.logger.warn(`Could not point the read models' views at their tables: ${String(error)}`),
      );
    }
    this.options.onProgress?.();
  }
}

const VERSION_OF_TABLE = /_v(\d+)\b/;

/**
 * The channel an API instance without a projector of its own listens on (`CheckpointFollower`): sent
 * with the checkpoint rows' move, so it arrives when they are committed, with the new commit position.
 */
export const CHECKPOINTS_CHANNEL = 'read_model_checkpoints';
const NOTIFY_CHECKPOINTS = `SELECT pg_notify('${CHECKPOINTS_CHANNEL}', $3::text)`;

function positionOf(event: RecordedEnvelope): LogPosition {
  return { commit: event.commitPosition, prepare: event.preparePosition };
}
