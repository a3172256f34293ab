import type { Worker } from 'node:worker_threads';
import type { ProjectionRunnerLogger } from '../projection-runner';
import type { AnyProjection } from '../projection';
import { FollowedProgress } from './followed-progress';
import { startWorkerThread } from '../worker-thread';
import {
  fromWire,
  type ProjectorCommand,
  type ProjectorMessage,
  type ProjectorThreadData,
} from './projector-messages';

/** The projector thread's young generation, MiB (three semi-spaces of 4 MiB). */
const PROJECTOR_YOUNG_GENERATION_MB = 12;

export interface ProjectorThreadOptions extends ProjectorThreadData {
  readonly projections: readonly AnyProjection[];
  readonly logger: ProjectionRunnerLogger;
  /** Pause before a projector thread that died is started again. */
  readonly restartDelayMs?: number;
}

/**
 * The service's projector, by default: the runner in a worker thread of this process
 * (`projector.worker.ts`), with its own event-store client and PostgreSQL pool. The API's thread only
 * follows the position it reports. A thread that dies (an uncaught error) is logged and started again
 * after a pause: it resumes from the checkpoint rows, like a restarted process.
 */
export class ProjectorThread extends FollowedProgress {
  private worker: Worker | null = null;
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  /** The highest position asked of the thread (`want`): asking again for a lower one changes nothing. */
  private lastWanted: bigint | null = null;

  constructor(private readonly options: ProjectorThreadOptions) {
    super(options.projections);
  }

  /** Resolves once the thread has read its checkpoint rows and subscribed; rejects with why it could not. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const worker = this.spawn();
      const onMessage = (message: ProjectorMessage) => {
        if (message.type === 'started') {
          worker.off('message', onMessage);
          resolve();
        } else if (message.type === 'failed') {
          worker.off('message', onMessage);
          // A thread that could not start is not started again: the service's start fails with the cause.
          this.stopping = true;
          void worker.terminate();
          reject(new Error(`The projector thread could not start: ${message.message}`));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  }

  /** Commits what the thread has delivered (unless `commit: false`, as a crash would) and ends it. */
  async stop(opts: { commit?: boolean } = {}): Promise<void> {
    if (this.stopping) return this.stopped ?? undefined;
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    this.stopped = worker
      ? new Promise<void>((resolve) => {
          worker.once('exit', () => resolve());
          worker.postMessage({ type: 'stop', commit: opts.commit ?? true } satisfies ProjectorCommand);
        })
      : Promise.resolve();
    await this.stopped;
    this.rejectAll();
  }

  private spawn(): Worker {
    const workerData: ProjectorThreadData = {
      eventStoreConnectionString: this.options.eventStoreConnectionString,
      databaseUrl: this.options.databaseUrl,
    };
    // The thread's young generation is capped (V8 would let it grow to 48 MiB under load): it decodes
    // and writes in batches, where a scavenge more often costs no request any latency (decision 67).
    const resourceLimits = { maxYoungGenerationSizeMb: PROJECTOR_YOUNG_GENERATION_MB };
    const worker = startWorkerThread(__filename, 'projector', { workerData, resourceLimits });
    this.worker = worker;
    this.lastWanted = null;
    worker.on('message', (message: ProjectorMessage) => this.receive(message));
    worker.on('error', (error) =>
      this.options.logger.error(`The projector thread failed: ${error.stack ?? error.message}`),
    );
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      if (this.stopping) return;
      this.options.logger.error(
        `The projector thread exited (code ${code}); starting it again in ${this.restartDelay} ms`,
      );
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.stopping) this.spawn();
      }, this.restartDelay);
    });
    return worker;
  }

  protected override wanted(commit: bigint): void {
    if (this.lastWanted !== null && commit <= this.lastWanted) return;
    this.lastWanted = commit;
    this.worker?.postMessage({ type: 'want', commit: commit.toString() } satisfies ProjectorCommand);
  }

  private get restartDelay(): number {
    return this.options.restartDelayMs ?? 1_000;
  }

  private receive(message: ProjectorMessage): void {
    switch (message.type) {
      case 'progress':
        if (message.committed !== null) this.advance(BigInt(message.committed));
        this.report(fromWire(message.status));
        if (message.caughtUp) this.markCaughtUp();
        return;
      case 'log':
        this.options.logger[message.level](message.message);
        return;
      case 'failed':
        this.options.logger.error(`The projector thread failed: ${message.message}`);
        void this.worker?.terminate();
        return;
      case 'started':
      case 'stopped':
        return;
    }
  }
}
