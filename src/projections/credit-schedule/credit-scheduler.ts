import { randomUUID } from 'node:crypto';
import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Database } from '../../database/database';
import { LedgerService } from '../../ledger/application/ledger.service';
import { CREDIT_SCHEDULE_TABLE } from './credit-schedule.projection';

/** How often the timer looks for due work; a period start or an expiry is acted on within this. */
export const CREDIT_SCHEDULE_INTERVAL_MS = 60_000;

export type CreditScheduleSettings = { readonly graceMs: number; readonly intervalMs: number };
export const CREDIT_SCHEDULE_SETTINGS = Symbol('CREDIT_SCHEDULE_SETTINGS');

/**
 * The service's own timer for SPEC §10: at start and then every interval, every parent with a lot past
 * its expiry plus grace, or a recurring allocation due, gets `ExpireCredits` then
 * `RenewRecurringAllocations`, through the ledger's command processor like any request. Several
 * instances may run it at once: each command is decided against the parent's stream with an expected
 * revision, and one already carried out decides nothing. A restart with a later SUBLEDGER_NOW catches
 * up at once (the first run is at start).
 */
@Injectable()
export class CreditScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('CreditScheduler');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly ledger: LedgerService,
    private readonly database: Database,
    private readonly settings: CreditScheduleSettings,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every due parent; resolves when all are decided. Errors are logged, never thrown. */
  runOnce(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runOnce().then(() => this.schedule(this.settings.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    const now = this.ledger.now();
    let parents: string[];
    try {
      const { rows } = await this.database.pool.query<{ parent_id: string }>(
        `SELECT DISTINCT parent_id FROM ${CREDIT_SCHEDULE_TABLE}
         WHERE NOT done AND ((kind = 'lot' AND due_at <= $1) OR (kind = 'recurring' AND due_at <= $2))
         ORDER BY parent_id`,
        [new Date(now.getTime() - this.settings.graceMs).toISOString(), now.toISOString()],
      );
      parents = rows.map((row) => row.parent_id);
    } catch (error) {
      if (!this.stopped) this.logger.warn(`could not read the credit schedule: ${String(error)}`);
      return;
    }
    const correlationId = `credit-schedule-${randomUUID()}`;
    for (const parentId of parents) {
      if (this.stopped) return;
      try {
        const at = this.ledger.now();
        await this.ledger.runScheduled(
          parentId,
          { type: 'ExpireCredits', data: { graceMs: this.settings.graceMs }, metadata: { now: at } },
          correlationId,
        );
        await this.ledger.runScheduled(
          parentId,
          { type: 'RenewRecurringAllocations', data: {}, metadata: { now: at } },
          correlationId,
        );
      } catch (error) {
        if (!this.stopped) this.logger.warn(`scheduled credit work of ${parentId} failed: ${String(error)}`);
      }
    }
  }
}
