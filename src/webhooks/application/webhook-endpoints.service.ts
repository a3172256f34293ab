import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import type { RequestContext } from '../../auth/request-context';
import { Database } from '../../database/database';
import { SubledgerError } from '../../kernel/subledger-error';
import { LedgerService } from '../../ledger/application/ledger.service';
import { requireParent } from '../../ledger/domain';
import { checkWebhookUrl } from './webhook-target.guard';
import { WEBHOOK_SETTINGS } from './webhook-delivery.constants';
import type { WebhookSettings } from './webhook-settings';
import { WebhookSender } from './webhook-sender';

export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly description: string | null;
  /** Empty: every event type. */
  readonly eventTypes: readonly string[];
  readonly disabled: boolean;
  /** Why it is disabled: manual, gone (410), retries_exhausted; null while enabled. */
  readonly disabledReason: string | null;
  readonly disabledAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface DeliveryAttempt {
  readonly attempt: number;
  readonly attemptedAt: string;
  readonly status: number | null;
  readonly error: string | null;
  readonly durationMs: number;
}

export interface WebhookDelivery {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly streamRevision: string;
  readonly status: string;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastAttemptAt: string | null;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: string | null;
  readonly createdAt: string;
  readonly attemptLog: readonly DeliveryAttempt[];
}

export interface EndpointInput {
  readonly url?: string;
  readonly eventTypes?: readonly string[];
  readonly description?: string | null;
  readonly disabled?: boolean;
}

const ENDPOINT_COLUMNS =
  'endpoint_id, url, description, event_types, disabled_at, disabled_reason, created_at, updated_at';
const MAX_ENDPOINTS_PER_PARENT = 50;

interface EndpointRow {
  endpoint_id: string;
  url: string;
  description: string | null;
  event_types: string[];
  disabled_at: Date | null;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * A parent's webhook endpoints (PostgreSQL rows, docs/webhooks.md): registering, listing, changing,
 * deleting, every change written to `webhook_endpoint_changes` in the same transaction; and their
 * delivery log with manual redelivery.
 */
@Injectable()
export class WebhookEndpointsService {
  constructor(
    private readonly database: Database,
    private readonly ledger: LedgerService,
    private readonly sender: WebhookSender,
    @Inject(WEBHOOK_SETTINGS) private readonly settings: WebhookSettings,
  ) {}

  /** Registers an endpoint; its signing secret is returned here and never again. */
  async create(
    context: RequestContext,
    parentId: string,
    input: Required<Pick<EndpointInput, 'url'>> & EndpointInput,
  ): Promise<WebhookEndpoint & { secret: string }> {
    await this.requireParent(context, parentId);
    const url = await checkWebhookUrl(input.url, this.settings.allowPrivateTargets);
    const id = `ep_${randomBytes(12).toString('hex')}`;
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const endpoint = await this.database.transaction(async (client) => {
      const { rows: count } = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM webhook_endpoints WHERE parent_id = $1 AND deleted_at IS NULL`,
        [parentId],
      );
      if (Number(count[0].n) >= MAX_ENDPOINTS_PER_PARENT) {
        throw new SubledgerError(
          'limit_exceeded',
          'conflict',
          `a parent may have at most ${MAX_ENDPOINTS_PER_PARENT} webhook endpoints`,
        );
      }
      const { rows } = await client.query<EndpointRow>(
        `INSERT INTO webhook_endpoints (endpoint_id, parent_id, url, description, event_types, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now()) RETURNING ${ENDPOINT_COLUMNS}`,
        [id, parentId, url, input.description ?? null, input.eventTypes ?? [], secret],
      );
      const created = endpointOf(rows[0]);
      await recordChange(client, context, parentId, created, 'created');
      return created;
    });
    return { ...endpoint, secret };
  }

  async list(context: RequestContext, parentId: string): Promise<WebhookEndpoint[]> {
    await this.requireParent(context, parentId);
    const { rows } = await this.database.pool.query<EndpointRow>(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE parent_id = $1 AND deleted_at IS NULL ORDER BY created_at, endpoint_id`,
      [parentId],
    );
    return rows.map(endpointOf);
  }

  async get(context: RequestContext, parentId: string, endpointId: string): Promise<WebhookEndpoint> {
    await this.requireParent(context, parentId);
    const { rows } = await this.database.pool.query<EndpointRow>(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE parent_id = $1 AND endpoint_id = $2 AND deleted_at IS NULL`,
      [parentId, endpointId],
    );
    if (rows.length === 0) throw endpointNotFound(parentId, endpointId);
    return endpointOf(rows[0]);
  }

  async update(
    context: RequestContext,
    parentId: string,
    endpointId: string,
    input: EndpointInput,
  ): Promise<WebhookEndpoint> {
    await this.requireParent(context, parentId);
    const url =
      input.url === undefined
        ? undefined
        : await checkWebhookUrl(input.url, this.settings.allowPrivateTargets);
    const updated = await this.database.transaction(async (client) => {
      const before = await lockEndpoint(client, parentId, endpointId);
      const { rows } = await client.query<EndpointRow>(
        `UPDATE webhook_endpoints SET
           url = COALESCE($3, url),
           event_types = COALESCE($4, event_types),
           description = CASE WHEN $5 THEN $6 ELSE description END,
           disabled_at = CASE WHEN $7::boolean IS NULL THEN disabled_at WHEN $7 THEN COALESCE(disabled_at, now()) ELSE NULL END,
           disabled_reason = CASE WHEN $7::boolean IS NULL THEN disabled_reason WHEN $7 THEN COALESCE(disabled_reason, 'manual') ELSE NULL END,
           updated_at = now()
         WHERE endpoint_id = $2 AND parent_id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
        [
          parentId,
          endpointId,
          url ?? null,
          input.eventTypes ?? null,
          input.description !== undefined,
          input.description ?? null,
          input.disabled ?? null,
        ],
      );
      const after = endpointOf(rows[0]);
      const change =
        input.disabled === true && !before.disabled
          ? 'disabled'
          : input.disabled === false && before.disabled
            ? 'enabled'
            : 'updated';
      await recordChange(client, context, parentId, after, change);
      return after;
    });
    if (!updated.disabled) this.sender.wake();
    return updated;
  }

  /** Deletes an endpoint: nothing more is sent to it; its deliveries not yet sent are cancelled. */
  async delete(context: RequestContext, parentId: string, endpointId: string): Promise<void> {
    await this.requireParent(context, parentId);
    await this.database.transaction(async (client) => {
      const endpoint = await lockEndpoint(client, parentId, endpointId);
      await client.query(
        `UPDATE webhook_endpoints SET deleted_at = now(), updated_at = now() WHERE endpoint_id = $1`,
        [endpointId],
      );
      await client.query(
        `UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL
         WHERE endpoint_id = $1 AND status = 'pending'`,
        [endpointId],
      );
      await recordChange(client, context, parentId, endpoint, 'deleted');
    });
  }

  /** The endpoint's deliveries, newest first, each with its attempts. */
  async deliveries(
    context: RequestContext,
    parentId: string,
    endpointId: string,
    options: { status?: string; limit: number },
  ): Promise<WebhookDelivery[]> {
    await this.get(context, parentId, endpointId);
    const { rows } = await this.database.pool.query<DeliveryRow>(
      `SELECT d.*, COALESCE(
         (SELECT json_agg(json_build_object('attempt', a.attempt, 'attemptedAt', a.attempted_at, 'status', a.status,
                                            'error', a.error, 'durationMs', a.duration_ms) ORDER BY a.attempt)
          FROM webhook_delivery_attempts a WHERE a.delivery_id = d.delivery_id), '[]'::json) AS attempt_log
       FROM webhook_deliveries d
       WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.status = $2)
       ORDER BY d.seq DESC LIMIT $3`,
      [endpointId, options.status ?? null, options.limit],
    );
    return rows.map(deliveryOf);
  }

  /** Sends a delivery again (whatever its status), at once, as a new round of the retry schedule. */
  async redeliver(
    context: RequestContext,
    parentId: string,
    endpointId: string,
    deliveryId: string,
  ): Promise<WebhookDelivery> {
    const endpoint = await this.get(context, parentId, endpointId);
    if (endpoint.disabled) {
      throw new SubledgerError(
        'conflict',
        'conflict',
        `endpoint ${endpointId} is disabled (${endpoint.disabledReason}): enable it first (PATCH disabled: false)`,
      );
    }
    const { rows } = await this.database.pool.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET status = 'pending', failures = 0, next_attempt_at = now(), leased_until = NULL,
         lease_token = NULL
       WHERE delivery_id = $1 AND endpoint_id = $2 RETURNING *, '[]'::json AS attempt_log`,
      [deliveryId, endpointId],
    );
    if (rows.length === 0) {
      throw new SubledgerError(
        'not_found',
        'not_found',
        `endpoint ${endpointId} has no delivery ${deliveryId}`,
      );
    }
    this.sender.wake();
    return deliveryOf(rows[0]);
  }

  private async requireParent(context: RequestContext, parentId: string): Promise<void> {
    await this.ledger.read(context, parentId, (state) => {
      requireParent(state);
      return null;
    });
  }
}

interface DeliveryRow {
  delivery_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  stream_revision: string;
  status: string;
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
  attempt_log: Array<{
    attempt: number;
    attemptedAt: string;
    status: number | null;
    error: string | null;
    durationMs: number;
  }>;
}

function deliveryOf(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.delivery_id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    streamRevision: String(row.stream_revision),
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? iso(row.next_attempt_at) : null,
    lastAttemptAt: iso(row.last_attempt_at),
    lastStatus: row.last_status,
    lastError: row.last_error,
    deliveredAt: iso(row.delivered_at),
    createdAt: row.created_at.toISOString(),
    attemptLog: row.attempt_log.map((attempt) => ({
      ...attempt,
      attemptedAt: new Date(attempt.attemptedAt).toISOString(),
    })),
  };
}

function iso(value: Date | null): string | null {
  return value === null ? null : value.toISOString();
}

function endpointOf(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.endpoint_id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    disabled: row.disabled_at !== null,
    disabledReason: row.disabled_reason,
    disabledAt: iso(row.disabled_at),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function endpointNotFound(parentId: string, endpointId: string): SubledgerError {
  return new SubledgerError(
    'not_found',
    'not_found',
    `parent ${parentId} has no webhook endpoint ${endpointId}`,
  );
}

async function lockEndpoint(
  client: PoolClient,
  parentId: string,
  endpointId: string,
): Promise<WebhookEndpoint> {
  const { rows } = await client.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints
     WHERE parent_id = $1 AND endpoint_id = $2 AND deleted_at IS NULL FOR UPDATE`,
    [parentId, endpointId],
  );
  if (rows.length === 0) throw endpointNotFound(parentId, endpointId);
  return endpointOf(rows[0]);
}

/** One row of the endpoint's audit trail: what it is now, who changed it, in which request. */
export async function recordChange(
  client: PoolClient,
  context: RequestContext | 'system',
  parentId: string,
  endpoint: WebhookEndpoint,
  change: string,
): Promise<void> {
  const actor =
    context === 'system'
      ? { type: 'service', id: 'webhook-delivery' }
      : context.principal.role === 'operator'
        ? { type: 'operator', id: 'operator' }
        : { type: context.principal.role, id: context.principal.keyId };
  await client.query(
    `INSERT INTO webhook_endpoint_changes (endpoint_id, parent_id, change, detail, actor, request_id, changed_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())`,
    [
      endpoint.id,
      parentId,
      change,
      JSON.stringify({
        url: endpoint.url,
        eventTypes: endpoint.eventTypes,
        description: endpoint.description,
        disabled: endpoint.disabled,
        disabledReason: endpoint.disabledReason,
      }),
      JSON.stringify(actor),
      context === 'system' ? null : context.requestId,
    ],
  );
}
