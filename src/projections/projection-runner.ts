import { performance } from 'node:perf_hooks';
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
  recordedEnvelopeOf,
} from './projection';
import { ProjectionLagError, ProjectionRebuildingError } from './projection.errors';
import type { ProjectionStateStore } from './projection-state.store';

export interface ProjectionRunnerLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ProjectionRunnerOptions {
  readonly client: EventStoreDBClient;
  readonly projections: readonly AnyProjection[];
  readonly store: ProjectionStateStore;
  /** Save a projection once this many events were applied since its last save… */
  readonly saveEveryEvents?: number;
  /** …or once this long has passed with unsaved events. */
  readonly saveEveryMs?: number;
  /**
   * At most this share of the time goes to saving: after a save that took d ms the next waits at least
   * d × (1 − share) / share. A big state saved every N events would otherwise slow a rebuild down.
   */
  readonly maxSaveShare?: number;
  /** Ignore stored states and rebuild every projection from the start of the log (the rebuild tool). */
  readonly fresh?: boolean;
  /**
   * Catch up by paging `readAll` (dropping other streams on this side) before the live subscription
   * takes over from the last event read. On the client 6.2.1 a subscription delivers each event through
   * an async transform, about a quarter slower than a read (docs/projections.md has the figures), and a
   * rebuild should run at the speed of a read. Default true; false catches up through the subscription.
   */
  readonly catchUpByReading?: boolean;
  /** Pause before resubscribing after the subscription failed (event store restarted, network). */
  readonly retryDelayMs?: number;
  readonly logger?: ProjectionRunnerLogger;
}

export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  /** True when it started without a usable stored state and is folding the log from its start. */
  readonly rebuilding: boolean;
  readonly caughtUp: boolean;
  readonly checkpoint: LogPosition | null;
  /** The checkpoint in the stored file: where a restart after a crash would resume. */
  readonly savedCheckpoint: LogPosition | null;
  readonly eventsApplied: number;
}

interface Slot {
  readonly projection: AnyProjection;
  state: unknown;
  /** Position of the last event folded into `state`; null before the first. */
  checkpoint: LogPosition | null;
  /** The checkpoint of the last completed save. */
  savedCheckpoint: LogPosition | null;
  rebuilding: boolean;
  unsaved: number;
  applied: number;
  lastSaveAt: number;
  nextSaveNotBefore: number;
  saving: Promise<void> | null;
}

interface PositionWaiter {
  readonly commit: bigint;
  resolve(): void;
  reject(error: Error): void;
}

interface CaughtUpWaiter {
  resolve(): void;
  reject(error: Error): void;
}

/** Events per catch-up read: long enough to stream at full speed, short enough to stop promptly. */
const CATCH_UP_PAGE = 20_000;

const silentLogger: ProjectionRunnerLogger = { log: () => {}, warn: () => {}, error: () => {} };

/**
 * Runs every registered projection off ONE catch-up-then-live subscription to `$all`, filtered on the
 * server to `ledger-` streams, so each event is read and parsed once and all read models advance in
 * commit order together.
 *
 * Each projection keeps its own checkpoint (the position of the last event it folded) and skips any
 * event at or below it: after a restart the subscription starts from the lowest checkpoint, and a
 * projection that had already saved further on sees those events again without counting them twice.
 * State and checkpoint are saved together, atomically, by the state store.
 */
export class ProjectionRunner {
  private readonly slots = new Map<string, Slot>();
  /** The same slots, for the per-event loop. */
  private readonly slotList: Slot[];
  private readonly saveEveryEvents: number;
  private readonly saveEveryMs: number;
  private readonly maxSaveShare: number;
  private readonly retryDelayMs: number;
  private readonly logger: ProjectionRunnerLogger;
  private subscription: AllStreamSubscription | null = null;
  private loop: Promise<void> | null = null;
  private started = false;
  private stopping = false;
  private caughtUp = false;
  /** The server said it reached the end; we are caught up once every event before that is applied. */
  private caughtUpSignalled = false;
  private waitingForNext = false;
  /** The last event of `$all` when the runner started: reaching it also means caught up. */
  private startupEnd: LogPosition | null = null;
  /** Position of the last event delivered (applied, or skipped by every projection's guard). */
  private processed: LogPosition | null = null;
  private delivered = 0;
  private positionWaiters: PositionWaiter[] = [];
  private caughtUpWaiters: CaughtUpWaiter[] = [];
  private stopWake: (() => void) | null = null;

  constructor(private readonly options: ProjectionRunnerOptions) {
    for (const projection of options.projections) {
      if (this.slots.has(projection.name)) throw new Error(`Two projections are named ${projection.name}`);
      this.slots.set(projection.name, {
        projection,
        state: projection.initialState(),
        checkpoint: null,
        savedCheckpoint: null,
        rebuilding: true,
        unsaved: 0,
        applied: 0,
        lastSaveAt: performance.now(),
        nextSaveNotBefore: 0,
        saving: null,
      });
    }
    this.slotList = [...this.slots.values()];
    this.saveEveryEvents = options.saveEveryEvents ?? 10_000;
    this.saveEveryMs = options.saveEveryMs ?? 5_000;
    this.maxSaveShare = options.maxSaveShare ?? 0.1;
    this.retryDelayMs = options.retryDelayMs ?? 1_000;
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Loads the stored states, then subscribes and returns at once: catching up goes on in the
   * background, and queries wait for it through `whenCaughtUp`.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('The projection runner was already started');
    this.started = true;
    for (const slot of this.slots.values()) {
      const { name, version } = slot.projection;
      const stored = this.options.fresh ? undefined : await this.options.store.load(name, version);
      if (stored) {
        slot.state = slot.projection.fromSnapshot(stored.state);
        slot.checkpoint = stored.checkpoint;
        slot.savedCheckpoint = stored.checkpoint;
        slot.rebuilding = false;
        this.logger.log(`Projection ${name} v${version} resumes after position ${stored.checkpoint.commit}`);
      } else {
        this.logger.log(`Projection ${name} v${version} has no stored state of this version; rebuilding`);
      }
    }
    this.processed = this.resumePosition();
    // The service must start even while the event store is unreachable (health then says not ready);
    // finding the log's end and subscribing go on in the background until the store answers.
    this.loop = this.findStartupEnd().then(() => (this.stopping ? undefined : this.run()));
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
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.stopWake = null;
        resolve();
      }, this.retryDelayMs);
      this.stopWake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Stops the subscription. With `save` (a clean shutdown) every projection's state is saved; without
   * it (tests simulating a crash) the stored files stay as the last periodic save left them.
   */
  async stop(opts: { save?: boolean } = {}): Promise<void> {
    if (!this.started || this.stopping) return;
    this.stopping = true;
    this.stopWake?.();
    const subscription = this.subscription;
    if (subscription) {
      await subscription.unsubscribe();
      // Ends the iteration even if the cancelled call never reports an end.
      subscription.destroy();
    }
    await this.loop;
    for (const slot of this.slots.values()) await slot.saving;
    if (opts.save ?? true) {
      for (const slot of this.slots.values()) {
        if (slot.checkpoint && slot.unsaved > 0) await this.save(slot);
      }
    }
    // Nobody may take a stopped runner's state for a caught-up one.
    for (const waiter of this.caughtUpWaiters) waiter.reject(new ProjectionRebuildingError('projections', 0));
    for (const waiter of this.positionWaiters) waiter.reject(new ProjectionLagError(waiter.commit, 0));
    this.caughtUpWaiters = [];
    this.positionWaiters = [];
  }

  isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /**
   * Resolves once the runner has applied everything the log held when it started. Rejects with
   * `ProjectionRebuildingError` (→ 503) after `timeoutMs`; 0 only checks.
   */
  whenCaughtUp(timeoutMs: number, projectionName = 'projections'): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    if (timeoutMs <= 0) return Promise.reject(new ProjectionRebuildingError(projectionName, 0));
    return waitWithTimeout<CaughtUpWaiter>(
      (settle) => settle,
      timeoutMs,
      () => new ProjectionRebuildingError(projectionName, timeoutMs),
      (waiter) => this.caughtUpWaiters.push(waiter),
      (waiter) => (this.caughtUpWaiters = this.caughtUpWaiters.filter((w) => w !== waiter)),
    );
  }

  /**
   * Read-your-writes: resolves once every projection has applied the event at `commitPosition` (the
   * position the command side got back from its append to a `ledger-` stream). Rejects with
   * `ProjectionLagError` after `timeoutMs`.
   */
  waitForPosition(commitPosition: bigint, timeoutMs: number): Promise<void> {
    if (this.hasProcessed(commitPosition)) return Promise.resolve();
    if (timeoutMs <= 0) return Promise.reject(new ProjectionLagError(commitPosition, 0));
    return waitWithTimeout<PositionWaiter>(
      (settle) => ({ commit: commitPosition, ...settle }),
      timeoutMs,
      () => new ProjectionLagError(commitPosition, timeoutMs),
      (waiter) => this.positionWaiters.push(waiter),
      (waiter) => (this.positionWaiters = this.positionWaiters.filter((w) => w !== waiter)),
    );
  }

  /**
   * The live state of a projection, for its query functions. Read it synchronously: `evolve` mutates it
   * in place between two awaits.
   */
  stateOf<State>(name: string): State {
    return this.slot(name).state as State;
  }

  /** The state once caught up (bounded wait), for queries that must not see a half-built read model. */
  async read<State>(name: string, timeoutMs: number): Promise<State> {
    this.slot(name);
    await this.whenCaughtUp(timeoutMs, name);
    return this.stateOf<State>(name);
  }

  status(): ProjectionStatus[] {
    return [...this.slots.values()].map((slot) => ({
      name: slot.projection.name,
      version: slot.projection.version,
      rebuilding: slot.rebuilding && !this.caughtUp,
      caughtUp: this.caughtUp,
      checkpoint: slot.checkpoint,
      savedCheckpoint: slot.savedCheckpoint,
      eventsApplied: slot.applied,
    }));
  }

  /** Events delivered by the subscription since start (applied by at least one projection or skipped). */
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
    for (const slot of this.slots.values()) {
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
        // The subscription below catches up from wherever the read stopped.
        this.logger.warn(
          `Catching up by reading failed (${error instanceof Error ? error.message : String(error)}); ` +
            'the subscription catches up instead',
        );
      }
    }
    while (!this.stopping) {
      const from = this.processed;
      const subscription = this.options.client.subscribeToAll({
        fromPosition: from === null ? START : { commit: from.commit, prepare: from.prepare },
        filter: streamNameFilter({ prefixes: [LEDGER_STREAM_PREFIX] }),
      });
      this.subscription = subscription;
      subscription.on('caughtUp', () => {
        this.caughtUpSignalled = true;
        if (this.waitingForNext && subscription.readableLength === 0) this.markCaughtUp();
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
   * Reads `$all` from the resume position in pages until a page comes back short (the end of the log as
   * the read met it). Every event read advances `processed`, ledger or not, so the subscription resumes
   * after the last one and a page of other streams never stalls the loop. A page is always read to its
   * end: the client's `dispose` waits for any read left half-consumed.
   */
  private async catchUpByReading(): Promise<void> {
    for (;;) {
      const from = this.processed;
      let read = 0;
      for await (const resolved of this.options.client.readAll({
        fromPosition: from === null ? START : { commit: from.commit, prepare: from.prepare },
        maxCount: CATCH_UP_PAGE,
      })) {
        read++;
        const position = resolved.event?.position;
        if (this.stopping || !position) continue;
        // A read from a position includes it; a subscription from it would not.
        if (from !== null && comparePositions(position, from) <= 0) continue;
        if (resolved.event!.streamId.startsWith(LEDGER_STREAM_PREFIX)) this.apply(resolved);
        else this.processed = position;
      }
      if (this.stopping) return;
      if (read < CATCH_UP_PAGE) {
        this.markCaughtUp();
        return;
      }
    }
  }

  private async consume(subscription: AllStreamSubscription): Promise<void> {
    const iterator = subscription[Symbol.asyncIterator]();
    for (;;) {
      // Every event the server sent before its caught-up signal was pushed before the signal, so once the
      // buffer is empty they have all been applied.
      if (this.caughtUpSignalled && subscription.readableLength === 0) this.markCaughtUp();
      this.waitingForNext = true;
      const next = await iterator.next();
      this.waitingForNext = false;
      if (next.done || this.stopping) return;
      this.apply(next.value as AllStreamResolvedEvent);
    }
  }

  private apply(resolved: AllStreamResolvedEvent): void {
    const recorded = fromResolvedEvent(resolved);
    const position = resolved.event?.position;
    if (!recorded || !position) return;
    // An event of a type this build does not know is folded by no projection; checkpoints pass it.
    const envelope = recordedEnvelopeOf(recorded, position);
    this.delivered++;
    const now = performance.now();
    for (const slot of this.slotList) {
      if (slot.checkpoint !== null && comparePositions(position, slot.checkpoint) <= 0) continue;
      if (envelope) slot.state = slot.projection.evolve(slot.state, envelope);
      slot.checkpoint = position;
      slot.unsaved++;
      slot.applied++;
      if (this.saveIsDue(slot, now)) void this.save(slot);
    }
    this.processed = position;
    if (this.positionWaiters.length > 0) this.releasePositionWaiters();
    if (!this.caughtUp && this.startupEnd !== null && comparePositions(position, this.startupEnd) >= 0) {
      this.markCaughtUp();
    }
  }

  private saveIsDue(slot: Slot, now: number): boolean {
    if (slot.saving !== null || now < slot.nextSaveNotBefore) return false;
    return slot.unsaved >= this.saveEveryEvents || now - slot.lastSaveAt >= this.saveEveryMs;
  }

  /**
   * Serialises synchronously (state and checkpoint of the same instant), then writes in the background;
   * the promise is kept so `stop` can wait for it, and a failed save is logged and retried later.
   */
  private save(slot: Slot): Promise<void> {
    const checkpoint = slot.checkpoint;
    if (checkpoint === null) return Promise.resolve();
    const startedAt = performance.now();
    const unsavedBefore = slot.unsaved;
    const { name, version } = slot.projection;
    const saving = this.options.store
      .save({ name, version, checkpoint, state: slot.projection.toSnapshot(slot.state) })
      .then(
        () => {
          const finishedAt = performance.now();
          const duration = finishedAt - startedAt;
          slot.savedCheckpoint = checkpoint;
          slot.unsaved -= unsavedBefore;
          slot.lastSaveAt = finishedAt;
          slot.nextSaveNotBefore = finishedAt + (duration * (1 - this.maxSaveShare)) / this.maxSaveShare;
        },
        (error: unknown) => {
          slot.lastSaveAt = performance.now();
          this.logger.error(
            `Saving projection ${name} failed (${error instanceof Error ? error.message : String(error)}); ` +
              'it will be retried',
          );
        },
      )
      .finally(() => {
        slot.saving = null;
      });
    slot.saving = saving;
    return saving;
  }

  private hasProcessed(commit: bigint): boolean {
    return this.processed !== null && this.processed.commit >= commit;
  }

  private releasePositionWaiters(): void {
    const still: PositionWaiter[] = [];
    for (const waiter of this.positionWaiters) {
      if (this.hasProcessed(waiter.commit)) waiter.resolve();
      else still.push(waiter);
    }
    this.positionWaiters = still;
  }

  private markCaughtUp(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    this.logger.log(`Projections caught up after ${this.delivered} events`);
    const waiters = this.caughtUpWaiters;
    this.caughtUpWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }
}

/**
 * A promise settled by whoever holds its waiter, or rejected with `timedOut()` once `timeoutMs` has
 * passed (the waiter is then withdrawn); settling either way clears the timer.
 */
function waitWithTimeout<Waiter extends CaughtUpWaiter>(
  makeWaiter: (settle: CaughtUpWaiter) => Waiter,
  timeoutMs: number,
  timedOut: () => Error,
  register: (waiter: Waiter) => void,
  withdraw: (waiter: Waiter) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const waiter = makeWaiter({
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
      reject: (error) => {
        clearTimeout(timer);
        reject(error);
      },
    });
    const timer = setTimeout(() => {
      withdraw(waiter);
      reject(timedOut());
    }, timeoutMs);
    register(waiter);
  });
}
