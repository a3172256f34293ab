import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BACKWARDS, END, type EventStoreDBClient, type Position } from '@eventstore/db-client';
import type { Logger } from 'pino';
import { Clock } from '../../config/clock';
import { EVENT_STORE_CLIENT } from '../../event-store/event-store-client.provider';
import { ROOT_LOGGER } from '../../observability/logging.module';
import { LEDGER_CATEGORY } from '../domain';

/**
 * The service clock never runs behind the ledger's log. A restart with `SUBLEDGER_NOW` earlier than the
 * newest recorded event (or on a wall clock behind it, after a run with a later `SUBLEDGER_NOW`) would
 * stamp new events before events already recorded: usage filed in a period the period list does not
 * show (it runs from the opening to "now"), periods closable out of order, histories out of time order.
 * So before the service listens, the clock is moved forward to the newest ledger event's `recordedAt`
 * when it reads earlier, with a warning naming both instants; it then runs on from there.
 */
const RETRY_MS = 2_000;

@Injectable()
export class ClockFloor implements OnApplicationBootstrap, OnApplicationShutdown {
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    @Inject(EVENT_STORE_CLIENT) private readonly client: EventStoreDBClient,
    private readonly clock: Clock,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * The service starts even while its store is unreachable (/health then answers 503); the floor is
   * then set within RETRY_MS of the store answering again (a command decided in that window would be
   * stamped by the unmoved clock: the one gap left, and only after a start without a store).
   */
  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.apply();
    } catch (error) {
      this.logger.warn({ err: error }, 'Could not read the newest ledger event yet; retrying');
      this.scheduleRetry();
    }
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.apply().catch(() => this.scheduleRetry());
    }, RETRY_MS);
    this.retry.unref();
  }

  private async apply(): Promise<void> {
    const newest = await newestLedgerInstant(this.client);
    if (!newest) return;
    const configured = this.clock.now();
    if (this.clock.notBefore(newest)) {
      this.logger.warn(
        { clockWouldStartAt: configured.toISOString(), newestRecordedEventAt: newest.toISOString() },
        `The service clock (${configured.toISOString()}) is behind the newest recorded ledger event ` +
          `(${newest.toISOString()}); it starts at that event instead and runs on from there. ` +
          'Give a SUBLEDGER_NOW after it to move time on.',
      );
    }
  }
}

const PAGE = 500;

/** `metadata.recordedAt` of the last event appended to any `ledger-<parentId>` stream, if any. */
export async function newestLedgerInstant(client: EventStoreDBClient): Promise<Date | null> {
  const prefix = `${LEDGER_CATEGORY}-`;
  let from: Position | typeof END = END;
  let previousLast: bigint | undefined;
  for (;;) {
    let newest: Date | null = null;
    let read = 0;
    let last: Position | undefined;
    // Each page drained to its end: a read left half-consumed keeps the client's dispose waiting for it.
    for await (const resolved of client.readAll({
      direction: BACKWARDS,
      fromPosition: from,
      maxCount: PAGE,
    })) {
      const event = resolved.event;
      // A page may start with the event the previous one ended on, whichever way the server counts.
      if (!event || event.position.commit === previousLast) continue;
      read++;
      last = event.position;
      if (newest || !event.streamId.startsWith(prefix)) continue;
      const metadata = event.metadata as { recordedAt?: unknown } | undefined;
      const instant = typeof metadata?.recordedAt === 'string' ? new Date(metadata.recordedAt) : null;
      if (instant && !Number.isNaN(instant.getTime())) newest = instant;
    }
    if (newest) return newest;
    if (read === 0 || !last) return null;
    previousLast = last.commit;
    from = last;
  }
}
