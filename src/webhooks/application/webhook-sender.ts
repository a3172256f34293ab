import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { Inject, Injectable } from '@nestjs/common';
import { jsonEvent, type EventStoreDBClient } from '@eventstore/db-client';
import { Webhook } from 'standardwebhooks';
import type { PoolClient } from 'pg';
import { Database } from '../../database/database';
import { EVENT_STORE_CLIENT } from '../../event-store/event-store-client.provider';
import { WEBHOOK_SETTINGS, WEBHOOK_STREAM_CATEGORY } from './webhook-delivery.constants';
import type { WebhookSettings } from './webhook-settings';
import { guardedLookup, isPrivateAddress } from './webhook-target.guard';
import type { WebhookWorkerLogger } from './webhook-outbox';

/** Endpoints worked on at once by one instance. */
const CONCURRENT_ENDPOINTS = 8;
/** Deliveries of one endpoint claimed together and sent one after another, in commit order. */
const RUN_LENGTH = 100;
/** With nothing due, look again this often (another instance's outbox rows, retries coming due). */
const IDLE_POLL_MS = 500;
const MAX_ERROR_LENGTH = 500;

interface ClaimedDelivery {
  readonly delivery_id: string;
  readonly endpoint_id: string;
  readonly parent_id: string;
  readonly event_id: string;
  readonly payload: string;
  readonly attempts: number;
  readonly failures: number;
  readonly url: string;
  readonly secret: string;
  readonly lease_token: string;
}

interface SendResult {
  readonly ok: boolean;
  readonly status: number | null;
  readonly error: string | null;
  readonly startedAt: Date;
  readonly durationMs: number;
}

/**
 * The second half of the delivery worker: sends the outbox rows. Each round claims, for up to
 * `CONCURRENT_ENDPOINTS` endpoints whose oldest pending delivery is due, their next deliveries in
 * commit order under a lease (the endpoint rows locked `FOR UPDATE SKIP LOCKED` while claiming, so
 * instances never claim the same endpoint), sends them one after another, and records the outcome in
 * one transaction: an endpoint's deliveries therefore arrive in commit order, and a process killed
 * mid-run leaves leased rows that are sent again once the lease has run out (at least once; only what
 * was in flight is sent twice). Non-2xx or no answer: retried on the schedule with jitter, later
 * deliveries of the endpoint waiting behind it; 410 disables the endpoint, and so does the schedule's
 * end (`WebhookEndpointDisabled`).
 */
@Injectable()
export class WebhookSender {
  private readonly active = new Map<string, Promise<void>>();
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 4 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 4 }),
  };
  private logger: WebhookWorkerLogger = { warn: () => undefined, error: () => undefined };

  constructor(
    private readonly database: Database,
    @Inject(EVENT_STORE_CLIENT) private readonly client: EventStoreDBClient,
    @Inject(WEBHOOK_SETTINGS) private readonly settings: WebhookSettings,
  ) {}

  /** How long a claim holds its deliveries: a run stops starting sends well before it runs out. */
  private get leaseMs(): number {
    return 2 * this.settings.timeoutMs + 5_000;
  }

  start(logger: WebhookWorkerLogger): void {
    this.logger = logger;
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.running;
    await Promise.allSettled(this.active.values());
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** Something may be due now (new outbox rows, a redelivery, an endpoint enabled). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      let claimed = 0;
      const capacity = CONCURRENT_ENDPOINTS - this.active.size;
      if (capacity > 0) {
        try {
          claimed = this.startRuns(await this.claim(capacity));
        } catch (error) {
          this.logger.warn(`webhook sender: could not claim deliveries: ${String(error)}`);
        }
      }
      if (claimed > 0 && this.active.size < CONCURRENT_ENDPOINTS) continue;
      if (this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, IDLE_POLL_MS);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
        // A run ending frees a place.
        void Promise.race(this.active.values()).then(this.wakeUp, this.wakeUp);
      });
      this.wakeUp = undefined;
    }
  }

  private startRuns(claimed: readonly ClaimedDelivery[]): number {
    const byEndpoint = new Map<string, ClaimedDelivery[]>();
    for (const delivery of claimed) {
      byEndpoint.set(delivery.endpoint_id, [...(byEndpoint.get(delivery.endpoint_id) ?? []), delivery]);
    }
    for (const [endpointId, deliveries] of byEndpoint) {
      const run = this.run(deliveries)
        .catch((error: unknown) => this.logger.error(`webhook sender: a run failed: ${String(error)}`))
        .finally(() => {
          this.active.delete(endpointId);
          this.wake();
        });
      this.active.set(endpointId, run);
    }
    return byEndpoint.size;
  }

  /**
   * Two statements in one transaction. The first locks the endpoints to work on (`FOR UPDATE SKIP
   * LOCKED`: an endpoint another instance is claiming is passed over). The second, whose snapshot is
   * taken only once those locks are held, so that it sees every lease another instance committed
   * before it, checks again that each endpoint's oldest pending delivery is due and not leased, and
   * leases its next deliveries in commit order.
   */
  private async claim(endpoints: number): Promise<ClaimedDelivery[]> {
    const token = randomUUID();
    const due = `EXISTS (
        SELECT 1 FROM (SELECT d.next_attempt_at, d.leased_until FROM webhook_deliveries d
                       WHERE d.endpoint_id = e.endpoint_id AND d.status = 'pending' ORDER BY d.seq LIMIT 1) h
        WHERE h.next_attempt_at <= now() AND (h.leased_until IS NULL OR h.leased_until < now()))`;
    return this.database.transaction(async (client) => {
      const { rows: locked } = await client.query<{ endpoint_id: string; url: string; secret: string }>(
        `SELECT e.endpoint_id, e.url, e.secret FROM webhook_endpoints e
         WHERE e.disabled_at IS NULL AND e.deleted_at IS NULL AND NOT (e.endpoint_id = ANY($2::text[])) AND ${due}
         LIMIT $1
         FOR UPDATE OF e SKIP LOCKED`,
        [endpoints, [...this.active.keys()]],
      );
      if (locked.length === 0) return [];
      const { rows } = await client.query<
        Omit<ClaimedDelivery, 'lease_token' | 'url' | 'secret'> & { seq: string }
      >(
        `WITH heads AS (
           SELECT e.endpoint_id FROM unnest($1::text[]) AS e(endpoint_id) WHERE ${due}
         )
         UPDATE webhook_deliveries d
         SET leased_until = now() + make_interval(secs => $3::double precision / 1000), lease_token = $4
         FROM (SELECT x.delivery_id FROM heads h CROSS JOIN LATERAL (
                 SELECT delivery_id FROM webhook_deliveries x
                 WHERE x.endpoint_id = h.endpoint_id AND x.status = 'pending' ORDER BY x.seq LIMIT $2) x) c
         WHERE d.delivery_id = c.delivery_id
         RETURNING d.delivery_id, d.endpoint_id, d.parent_id, d.event_id, d.payload, d.attempts, d.failures, d.seq`,
        [locked.map((endpoint) => endpoint.endpoint_id), RUN_LENGTH, this.leaseMs, token],
      );
      const endpointsById = new Map(locked.map((endpoint) => [endpoint.endpoint_id, endpoint]));
      return rows
        .sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)))
        .map((row) => ({
          ...row,
          url: endpointsById.get(row.endpoint_id)!.url,
          secret: endpointsById.get(row.endpoint_id)!.secret,
          lease_token: token,
        }));
    });
  }

  /** One endpoint's claimed deliveries, in order, until one fails or the lease runs short. */
  private async run(deliveries: readonly ClaimedDelivery[]): Promise<void> {
    const started = Date.now();
    const signer = new Webhook(deliveries[0].secret);
    const sent: Array<{ delivery: ClaimedDelivery; result: SendResult }> = [];
    for (const delivery of deliveries) {
      if (this.stopped || Date.now() - started + this.settings.timeoutMs > this.leaseMs - 2_000) break;
      const result = await this.send(delivery, signer);
      sent.push({ delivery, result });
      if (!result.ok) break;
    }
    const token = deliveries[0].lease_token;
    const disabled = await this.database.transaction((client) =>
      this.record(client, deliveries, sent, token),
    );
    if (disabled) await this.announceDisabled(disabled);
  }

  private send(delivery: ClaimedDelivery, signer: Webhook): Promise<SendResult> {
    const startedAt = new Date();
    const target = new URL(delivery.url);
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const end = (status: number | null, error: string | null): SendResult => ({
      ok: status !== null && status >= 200 && status < 300,
      status,
      error: error === null ? null : error.slice(0, MAX_ERROR_LENGTH),
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
    });
    if (!this.settings.allowPrivateTargets && isIP(host) && isPrivateAddress(host)) {
      return Promise.resolve(end(null, `${host} is a loopback, private or link-local address (refused)`));
    }
    const body = Buffer.from(delivery.payload, 'utf8');
    const signature = signer.sign(delivery.event_id, startedAt, delivery.payload);
    const secure = target.protocol === 'https:';
    return new Promise<SendResult>((resolve) => {
      const request = (secure ? https : http).request(
        target,
        {
          method: 'POST',
          agent: secure ? this.agents.https : this.agents.http,
          lookup: guardedLookup(this.settings.allowPrivateTargets),
          signal: AbortSignal.timeout(this.settings.timeoutMs),
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            'user-agent': 'Subledger-Webhooks/1',
            'webhook-id': delivery.event_id,
            'webhook-timestamp': String(Math.floor(startedAt.getTime() / 1000)),
            'webhook-signature': signature,
          },
        },
        (response) => {
          // The answer's body is not kept; it is read to the end so the connection can be reused.
          response.resume();
          response.on('end', () => resolve(end(response.statusCode ?? null, null)));
          response.on('error', (error) => resolve(end(null, `the answer broke off: ${error.message}`)));
        },
      );
      request.on('error', (error: Error) =>
        resolve(
          end(
            null,
            error.name === 'AbortError' || error.name === 'TimeoutError'
              ? `no answer within ${this.settings.timeoutMs} ms`
              : error.message,
          ),
        ),
      );
      request.end(body);
    });
  }

  /**
   * Records a run in one transaction, for the rows this lease still holds: delivered ones, the failed
   * one's attempt and next retry (or the endpoint disabled), and the lease given back on the rest.
   * Returns the endpoint it disabled, if any.
   */
  private async record(
    client: PoolClient,
    claimed: readonly ClaimedDelivery[],
    sent: ReadonlyArray<{ delivery: ClaimedDelivery; result: SendResult }>,
    token: string,
  ): Promise<
    { endpointId: string; parentId: string; reason: string; url: string; deliveryId: string } | undefined
  > {
    if (sent.length > 0) {
      await client.query(
        `INSERT INTO webhook_delivery_attempts (delivery_id, attempt, attempted_at, status, error, duration_ms)
         SELECT a.delivery_id, d.attempts + 1, a.attempted_at, a.status, a.error, a.duration_ms
         FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::text[], $5::int[])
           AS a(delivery_id, attempted_at, status, error, duration_ms)
         JOIN webhook_deliveries d ON d.delivery_id = a.delivery_id AND d.lease_token = $6
         ON CONFLICT DO NOTHING`,
        [
          sent.map((s) => s.delivery.delivery_id),
          sent.map((s) => s.result.startedAt),
          sent.map((s) => s.result.status),
          sent.map((s) => s.result.error),
          sent.map((s) => s.result.durationMs),
          token,
        ],
      );
    }
    const delivered = sent.filter((s) => s.result.ok);
    if (delivered.length > 0) {
      await client.query(
        `UPDATE webhook_deliveries d SET status = 'delivered', attempts = d.attempts + 1, failures = 0,
           delivered_at = a.attempted_at, last_attempt_at = a.attempted_at, last_status = a.status, last_error = NULL,
           next_attempt_at = NULL, leased_until = NULL, lease_token = NULL
         FROM unnest($1::text[], $2::timestamptz[], $3::int[]) AS a(delivery_id, attempted_at, status)
         WHERE d.delivery_id = a.delivery_id AND d.lease_token = $4`,
        [
          delivered.map((s) => s.delivery.delivery_id),
          delivered.map((s) => s.result.startedAt),
          delivered.map((s) => s.result.status),
          token,
        ],
      );
    }
    const failed = sent.find((s) => !s.result.ok);
    let disabled:
      { endpointId: string; parentId: string; reason: string; url: string; deliveryId: string } | undefined;
    if (failed) {
      const { delivery, result } = failed;
      const failures = delivery.failures + 1;
      const schedule = this.settings.retryScheduleMs;
      const reason =
        result.status === 410 ? 'gone' : failures > schedule.length ? 'retries_exhausted' : undefined;
      const pause = reason ? null : jittered(schedule[failures - 1], this.settings.jitter);
      const { rowCount } = await client.query(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, failures = $2, last_attempt_at = $3, last_status = $4,
           last_error = $5, status = CASE WHEN $6::double precision IS NULL THEN 'failed' ELSE 'pending' END,
           next_attempt_at = CASE WHEN $6::double precision IS NULL THEN NULL
                                  ELSE now() + make_interval(secs => $6::double precision / 1000) END,
           leased_until = NULL, lease_token = NULL
         WHERE delivery_id = $1 AND lease_token = $7`,
        [delivery.delivery_id, failures, result.startedAt, result.status, result.error, pause, token],
      );
      if (reason && rowCount) {
        const { rows } = await client.query<{ url: string }>(
          `UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = $2, updated_at = now()
           WHERE endpoint_id = $1 AND disabled_at IS NULL RETURNING url`,
          [delivery.endpoint_id, reason],
        );
        if (rows.length > 0) {
          disabled = {
            endpointId: delivery.endpoint_id,
            parentId: delivery.parent_id,
            reason,
            url: rows[0].url,
            deliveryId: delivery.delivery_id,
          };
          await client.query(
            `INSERT INTO webhook_endpoint_changes (endpoint_id, parent_id, change, detail, actor, request_id, changed_at)
             SELECT endpoint_id, parent_id, 'disabled',
               jsonb_build_object('url', url, 'eventTypes', to_jsonb(event_types), 'description', description,
                 'disabled', true, 'disabledReason', disabled_reason, 'deliveryId', $2::text,
                 'lastStatus', $3::int, 'lastError', $4::text),
               '{"type":"service","id":"webhook-delivery"}'::jsonb, NULL, now()
             FROM webhook_endpoints WHERE endpoint_id = $1`,
            [delivery.endpoint_id, delivery.delivery_id, result.status, result.error],
          );
        }
      }
    }
    const attempted = new Set(sent.map((s) => s.delivery.delivery_id));
    const rest = claimed.filter((delivery) => !attempted.has(delivery.delivery_id));
    if (rest.length > 0) {
      await client.query(
        `UPDATE webhook_deliveries SET leased_until = NULL, lease_token = NULL
         WHERE delivery_id = ANY($1) AND lease_token = $2`,
        [rest.map((delivery) => delivery.delivery_id), token],
      );
    }
    return disabled;
  }

  /**
   * `WebhookEndpointDisabled` on the parent's webhook stream, for the other endpoints and any consumer
   * of the log. Written after the disabling committed: the change row is the record, and a crash in
   * between loses only this notice.
   */
  private async announceDisabled(disabled: {
    endpointId: string;
    parentId: string;
    reason: string;
    url: string;
    deliveryId: string;
  }): Promise<void> {
    try {
      await this.client.appendToStream(`${WEBHOOK_STREAM_CATEGORY}-${disabled.parentId}`, [
        jsonEvent({
          type: 'WebhookEndpointDisabled',
          data: {
            endpointId: disabled.endpointId,
            url: disabled.url,
            reason: disabled.reason,
            deliveryId: disabled.deliveryId,
            disabledAt: new Date().toISOString(),
          },
          metadata: { actor: { type: 'service', id: 'webhook-delivery' }, schemaVersion: 1 },
        }),
      ]);
    } catch (error) {
      this.logger.warn(`webhook sender: could not record WebhookEndpointDisabled: ${String(error)}`);
    }
  }
}

function jittered(ms: number, jitter: number): number {
  return Math.round(ms * (1 - jitter + Math.random() * 2 * jitter));
}
