import {
  BACKWARDS,
  END,
  type AllStreamResolvedEvent,
  type EventStoreDBClient,
  type Position,
} from '@eventstore/db-client';
import { Client } from 'pg';
import type { Database } from '../../database/database';
import { CHECKPOINTS_CHANNEL, type ProjectionRunnerLogger } from '../projection-runner';
import { LEDGER_STREAM_PREFIX, type AnyProjection } from '../projection';
import { FollowedProgress } from './followed-progress';

export interface CheckpointFollowerOptions {
  readonly client: EventStoreDBClient;
  readonly database: Database;
  readonly projections: readonly AnyProjection[];
  readonly logger: ProjectionRunnerLogger;
  /** How often the rows are read without a notification (a lost connection, a projector that sends none). */
  readonly pollMs?: number;
}

/** Events per backward page while looking for the log's last ledger event. */
const PAGE = 500;

/**
 * For an API instance whose projector runs elsewhere (`SUBLEDGER_PROJECTOR=external`, beside
 * `npm run projector` or another instance's thread): the read models' progress is the checkpoint rows.
 * It listens on their channel (the projector notifies with each committed batch) and reads the lowest
 * row of the current versions then, and every `pollMs` in any case. Caught up once that row has reached
 * the last ledger event the log held when this started.
 */
export class CheckpointFollower extends FollowedProgress {
  private listener: Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  /** The last ledger event at start (null: none); undefined until the store has answered. */
  private startupEnd: bigint | null | undefined = undefined;

  constructor(private readonly options: CheckpointFollowerOptions) {
    super(options.projections);
  }

  async start(): Promise<void> {
    await this.listen();
    this.timer = setInterval(() => this.refresh(), this.options.pollMs ?? 1_000);
    void this.findStartupEnd();
    this.refresh();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.reading;
    await this.listener?.end().catch(() => undefined);
    this.rejectAll();
  }

  private async listen(): Promise<void> {
    const listener = new Client({
      connectionString: this.options.database.url,
      application_name: 'subledger-follower',
    });
    listener.on('notification', () => this.refresh());
    listener.on('error', (error) => {
      this.options.logger.warn(
        `Listening for checkpoints failed (${error.message}); polling until it is back`,
      );
      this.listener = null;
      void listener.end().catch(() => undefined);
      setTimeout(() => void this.reconnect(), this.options.pollMs ?? 1_000);
    });
    await listener.connect();
    await listener.query(`LISTEN ${CHECKPOINTS_CHANNEL}`);
    this.listener = listener;
  }

  private async reconnect(): Promise<void> {
    if (this.stopping || this.listener) return;
    await this.listen().catch(() => setTimeout(() => void this.reconnect(), this.options.pollMs ?? 1_000));
  }

  /** Reads the rows now, or once more after the read in flight (notifications coalesce). */
  private refresh(): void {
    if (this.stopping) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readRows()
      .catch((error: unknown) =>
        this.options.logger.warn(
          `Reading the checkpoint rows failed: ${error instanceof Error ? error.message : String(error)}`,
        ),
      )
      .finally(() => {
        this.reading = null;
        if (this.readAgain) {
          this.readAgain = false;
          this.refresh();
        }
      });
  }

  private async readRows(): Promise<void> {
    const { projections } = this.options;
    const { rows } = await this.options.database.pool.query<{
      projection: string;
      version: number;
      commit_position: string;
      prepare_position: string;
    }>(
      `SELECT projection, version, commit_position, prepare_position FROM read_model_checkpoints
       WHERE (projection, version) IN (SELECT * FROM unnest($1::text[], $2::int[]))`,
      [projections.map((p) => p.name), projections.map((p) => p.version)],
    );
    const byName = new Map(rows.map((row) => [row.projection, row]));
    let lowest: bigint | null = null;
    let complete = true;
    for (const projection of projections) {
      const row = byName.get(projection.name);
      const commit = row ? BigInt(row.commit_position) : -1n;
      if (commit < 0n) complete = false;
      else if (lowest === null || commit < lowest) lowest = commit;
    }
    const caughtUp =
      this.startupEnd === null ||
      (this.startupEnd !== undefined && complete && lowest !== null && lowest >= this.startupEnd);
    this.report(
      projections.map((projection) => {
        const row = byName.get(projection.name);
        const commit = row ? BigInt(row.commit_position) : -1n;
        return {
          name: projection.name,
          version: projection.version,
          rebuilding: commit < 0n,
          caughtUp,
          checkpoint: commit < 0n ? null : { commit, prepare: BigInt(row!.prepare_position) },
          // Written by a projector elsewhere: this process applies none.
          eventsApplied: 0,
        };
      }),
    );
    if (complete && lowest !== null) this.advance(lowest);
    if (caughtUp) this.markCaughtUp();
  }

  /** The last ledger event of the log, read backwards past the snapshot streams after it. */
  private async findStartupEnd(): Promise<void> {
    while (!this.stopping && this.startupEnd === undefined) {
      try {
        this.startupEnd = await this.lastLedgerPosition();
        this.refresh();
      } catch (error) {
        this.options.logger.warn(
          `The event store did not answer (${error instanceof Error ? error.message : String(error)}); retrying`,
        );
        await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 1_000));
      }
    }
  }

  private async lastLedgerPosition(): Promise<bigint | null> {
    let from: Position | typeof END = END;
    for (;;) {
      let read = 0;
      let found: bigint | null = null;
      let last: Position | null = null;
      // Each page is read to its end: a read left half-consumed keeps the client's `dispose` waiting.
      const page: AsyncIterable<AllStreamResolvedEvent> = this.options.client.readAll({
        direction: BACKWARDS,
        fromPosition: from,
        maxCount: PAGE,
      });
      for await (const resolved of page) {
        read++;
        const event = resolved.event;
        if (!event?.position) continue;
        last = event.position;
        if (found === null && event.streamId.startsWith(LEDGER_STREAM_PREFIX)) found = event.position.commit;
      }
      if (found !== null) return found;
      if (read < PAGE || last === null) return null;
      from = last;
    }
  }
}
