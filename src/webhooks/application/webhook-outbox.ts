import { randomBytes } from 'node:crypto';
import {
  BACKWARDS,
  END,
  START,
  streamNameFilter,
  type AllStreamSubscription,
  type EventStoreDBClient,
} from '@eventstore/db-client';
import type { PoolClient } from 'pg';
import type { Database } from '../../database/database';
import { fromResolvedEvent } from '../../event-store/command-processing/event-envelope';
import { DELIVERED_STREAM_PREFIXES } from './webhook-delivery.constants';
import { parentOfStream, webhookBody } from './webhook-payload';

export interface WebhookWorkerLogger {
  warn(message: string): void;
  error(message: string): void;
}

interface OutboxEvent {
  readonly id: string;
  readonly type: string;
  readonly parentId: string;
  readonly streamName: string;
  readonly revision: bigint;
  readonly commit: bigint;
  readonly prepare: bigint;
  readonly payload: string;
}

interface Checkpoint {
  readonly commit: bigint;
  readonly prepare: bigint;
}

const CHECKPOINT_NAME = 'webhooks';

/**
 * The first half of the delivery worker: follows the log (`$all`, filtered on the ledger and webhook
 * streams) from its checkpoint in PostgreSQL and, for each batch of events, writes one outbox row per
 * (matching endpoint, event) and moves the checkpoint, in ONE transaction. A crash before the commit
 * leaves neither (the events are read again), after it both: no event is skipped or written twice.
 * Several instances may run it: the checkpoint row is locked for the transaction and what it already
 * covers is skipped, so rows are written once and in commit order.
 */
export class WebhookOutbox {
  private buffer: OutboxEvent[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private subscription: AllStreamSubscription | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wakeIdle: (() => void) | undefined;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly database: Database,
    private readonly written: () => void,
    private readonly logger: WebhookWorkerLogger,
    private readonly options: {
      batchSize: number;
      lingerMs: number;
      retryDelayMs: number;
      idlePollMs: number;
    } = {
      batchSize: 500,
      lingerMs: 20,
      retryDelayMs: 1_000,
      idlePollMs: 1_000,
    },
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeIdle?.();
    await this.subscription?.unsubscribe().catch(() => undefined);
    await this.running;
    await this.flush();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!(await this.anyEndpoint())) {
          await this.idle();
          continue;
        }
        await this.follow();
      } catch (error) {
        if (!this.stopped)
          this.logger.warn(`webhook outbox: the subscription failed, resuming: ${String(error)}`);
      }
      // What was received is still good: commit it before resubscribing from the checkpoint.
      await this.flush();
      if (!this.stopped) await delay(this.options.retryDelayMs);
    }
  }

  /**
   * While no endpoint is enabled anywhere, nothing is owed to anyone: the log is not followed (a
   * subscription decodes every ledger event on the service's event loop) and the checkpoint is moved
   * to the log's end now and then. Safe with endpoints created at any moment: the end is read BEFORE
   * checking that there is no endpoint, so an endpoint created after that check only ever has events
   * after that end owed to it.
   */
  private async idle(): Promise<void> {
    const end = await this.logEnd();
    if (end && !(await this.anyEndpoint())) {
      await this.database.pool.query(
        `INSERT INTO webhook_outbox_checkpoint (name, commit_position, prepare_position) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET commit_position = EXCLUDED.commit_position,
           prepare_position = EXCLUDED.prepare_position
         WHERE webhook_outbox_checkpoint.commit_position < EXCLUDED.commit_position`,
        [CHECKPOINT_NAME, String(end.commit), String(end.prepare)],
      );
    }
    await this.sleep(this.options.idlePollMs);
  }

  /** Follows the log from the checkpoint until no endpoint is left (or the subscription ends). */
  private async follow(): Promise<void> {
    const from = await this.checkpoint();
    const subscription = this.client.subscribeToAll({
      fromPosition: from,
      filter: streamNameFilter({ prefixes: [...DELIVERED_STREAM_PREFIXES] }),
    });
    this.subscription = subscription;
    if (this.stopped) await subscription.unsubscribe();
    let checkedAt = Date.now();
    for await (const resolved of subscription) {
      const event = fromResolvedEvent(resolved);
      const position = resolved.event?.position;
      if (event && position) {
        this.buffer.push({
          id: event.id,
          type: event.type,
          parentId: parentOfStream(event.streamName),
          streamName: event.streamName,
          revision: event.revision,
          commit: position.commit,
          prepare: position.prepare,
          payload: JSON.stringify(webhookBody(event, position.prepare)),
        });
        if (this.buffer.length >= this.options.batchSize) await this.flush();
        else this.timer ??= setTimeout(() => void this.flush(), this.options.lingerMs);
      }
      if (Date.now() - checkedAt > this.options.idlePollMs * 5) {
        checkedAt = Date.now();
        if (!(await this.anyEndpoint())) {
          await subscription.unsubscribe();
          break;
        }
      }
    }
  }

  private async anyEndpoint(): Promise<boolean> {
    const { rows } = await this.database.pool.query(
      `SELECT 1 FROM webhook_endpoints WHERE disabled_at IS NULL AND deleted_at IS NULL LIMIT 1`,
    );
    return rows.length > 0;
  }

  private async logEnd(): Promise<Checkpoint | undefined> {
    let end: Checkpoint | undefined;
    for await (const resolved of this.client.readAll({
      direction: BACKWARDS,
      fromPosition: END,
      maxCount: 1,
    })) {
      const position = resolved.event?.position;
      if (position) end = { commit: position.commit, prepare: position.prepare };
    }
    return end;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(() => this.writeBuffered());
    return this.flushing;
  }

  private async writeBuffered(): Promise<void> {
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return;
    for (;;) {
      try {
        await this.database.transaction((client) => writeBatch(client, batch));
        this.written();
        return;
      } catch (error) {
        // Not lost: the checkpoint did not move, so a restart or a resubscription reads them again.
        if (this.stopped) return;
        this.logger.warn(
          `webhook outbox: could not write a batch of ${batch.length} events, retrying: ${String(error)}`,
        );
        await delay(this.options.retryDelayMs);
      }
    }
  }

  /**
   * Where to resume. The first start of all begins at the log's current end: no endpoint existed before
   * it, so nothing earlier is owed to anyone.
   */
  private async checkpoint(): Promise<{ commit: bigint; prepare: bigint } | typeof START> {
    const stored = await readCheckpoint(this.database);
    if (stored) return stored;
    const end = await this.logEnd();
    await this.database.pool.query(
      `INSERT INTO webhook_outbox_checkpoint (name, commit_position, prepare_position) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO NOTHING`,
      [CHECKPOINT_NAME, String(end?.commit ?? -1n), String(end?.prepare ?? -1n)],
    );
    return (await readCheckpoint(this.database)) ?? START;
  }
}

async function readCheckpoint(database: Database): Promise<Checkpoint | undefined> {
  const { rows } = await database.pool.query<{ commit_position: string; prepare_position: string }>(
    `SELECT commit_position, prepare_position FROM webhook_outbox_checkpoint WHERE name = $1`,
    [CHECKPOINT_NAME],
  );
  if (rows.length === 0) return undefined;
  const commit = BigInt(rows[0].commit_position);
  // -1: the log was empty at the first start; follow it from its beginning.
  return commit < 0n ? undefined : { commit, prepare: BigInt(rows[0].prepare_position) };
}

async function writeBatch(client: PoolClient, batch: readonly OutboxEvent[]): Promise<void> {
  const { rows: locked } = await client.query<{ commit_position: string; prepare_position: string }>(
    `SELECT commit_position, prepare_position FROM webhook_outbox_checkpoint WHERE name = $1 FOR UPDATE`,
    [CHECKPOINT_NAME],
  );
  const checkpoint = locked.length
    ? { commit: BigInt(locked[0].commit_position), prepare: BigInt(locked[0].prepare_position) }
    : undefined;
  // Another instance may have covered part of the batch already.
  const fresh = checkpoint
    ? batch.filter(
        (event) =>
          event.commit > checkpoint.commit ||
          (event.commit === checkpoint.commit && event.prepare > checkpoint.prepare),
      )
    : batch;
  if (fresh.length === 0) return;
  const parents = [...new Set(fresh.map((event) => event.parentId))];
  const { rows: endpoints } = await client.query<{
    endpoint_id: string;
    parent_id: string;
    event_types: string[];
  }>(
    `SELECT endpoint_id, parent_id, event_types FROM webhook_endpoints
     WHERE parent_id = ANY($1) AND deleted_at IS NULL AND disabled_at IS NULL ORDER BY endpoint_id`,
    [parents],
  );
  if (endpoints.length > 0) {
    const byParent = new Map<string, typeof endpoints>();
    for (const endpoint of endpoints)
      byParent.set(endpoint.parent_id, [...(byParent.get(endpoint.parent_id) ?? []), endpoint]);
    const columns: string[][] = [[], [], [], [], [], [], [], [], []];
    for (const event of fresh) {
      for (const endpoint of byParent.get(event.parentId) ?? []) {
        if (endpoint.event_types.length > 0 && !endpoint.event_types.includes(event.type)) continue;
        const row = [
          `dlv_${randomBytes(12).toString('hex')}`,
          endpoint.endpoint_id,
          event.parentId,
          event.id,
          event.type,
          event.streamName,
          String(event.revision),
          String(event.commit),
          event.payload,
        ];
        row.forEach((value, i) => columns[i].push(value));
      }
    }
    if (columns[0].length > 0) {
      await client.query(
        `INSERT INTO webhook_deliveries (delivery_id, endpoint_id, parent_id, event_id, event_type, stream_name,
           stream_revision, commit_position, payload, status, next_attempt_at, created_at)
         SELECT r.delivery_id, r.endpoint_id, r.parent_id, r.event_id, r.event_type, r.stream_name, r.stream_revision,
           r.commit_position, r.payload, 'pending', now(), now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::bigint[], $8::numeric[],
           $9::text[]) WITH ORDINALITY
           AS r(delivery_id, endpoint_id, parent_id, event_id, event_type, stream_name, stream_revision, commit_position,
             payload, ord)
         ORDER BY r.ord
         ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
        columns,
      );
    }
  }
  const last = fresh[fresh.length - 1];
  await client.query(
    `INSERT INTO webhook_outbox_checkpoint (name, commit_position, prepare_position) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET commit_position = EXCLUDED.commit_position, prepare_position = EXCLUDED.prepare_position`,
    [CHECKPOINT_NAME, String(last.commit), String(last.prepare)],
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
