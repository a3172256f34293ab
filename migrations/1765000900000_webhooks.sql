-- Up Migration

-- Webhook endpoints (SPEC §11, docs/webhooks.md): one row per endpoint a parent registered. The secret
-- signs deliveries, so it is kept here and never in the event log (which every consumer of $all reads
-- and which can never forget it). Deleting an endpoint keeps its row (deleted_at) for the audit trail.
CREATE TABLE webhook_endpoints (
  endpoint_id     text        PRIMARY KEY,
  parent_id       text        NOT NULL,
  url             text        NOT NULL,
  description     text,
  -- Empty: every event type.
  event_types     text[]      NOT NULL DEFAULT '{}',
  secret          text        NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  disabled_at     timestamptz,
  -- 'manual' (PATCH disabled: true), 'gone' (the receiver answered 410), 'retries_exhausted'.
  disabled_reason text,
  deleted_at      timestamptz
);
CREATE INDEX webhook_endpoints_parent ON webhook_endpoints (parent_id) WHERE deleted_at IS NULL;

-- Every change of an endpoint, who made it and why, in the transaction that made it: the audit trail
-- of where a parent's events are sent (the secret is never written here).
CREATE TABLE webhook_endpoint_changes (
  change_id   bigserial   PRIMARY KEY,
  endpoint_id text        NOT NULL REFERENCES webhook_endpoints (endpoint_id),
  parent_id   text        NOT NULL,
  -- created, updated, disabled, enabled, deleted
  change      text        NOT NULL,
  -- The endpoint's settings after the change (url, eventTypes, description, disabled, reason).
  detail      jsonb       NOT NULL,
  -- {type, id} of the operator, parent key or 'system' (the delivery worker) that made it.
  actor       jsonb       NOT NULL,
  request_id  text,
  changed_at  timestamptz NOT NULL
);
CREATE INDEX webhook_endpoint_changes_endpoint ON webhook_endpoint_changes (endpoint_id, change_id);

-- The outbox: one row per (endpoint, event), written by the delivery worker in the same transaction as
-- its checkpoint below, then sent. `seq` is the commit order within an endpoint.
CREATE TABLE webhook_deliveries (
  delivery_id     text        PRIMARY KEY,
  seq             bigserial   NOT NULL UNIQUE,
  endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (endpoint_id),
  parent_id       text        NOT NULL,
  event_id        uuid        NOT NULL,
  event_type      text        NOT NULL,
  stream_name     text        NOT NULL,
  stream_revision bigint      NOT NULL,
  commit_position numeric(20) NOT NULL,
  -- The exact body sent (JSON), fixed when the row is written.
  payload         text        NOT NULL,
  -- pending (to send or retry), delivered, failed (schedule exhausted or 410), cancelled (endpoint deleted)
  status          text        NOT NULL,
  attempts        integer     NOT NULL DEFAULT 0,
  -- Failed attempts since it was written or redelivered: the place in the retry schedule.
  failures        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  -- A sender claimed it until then (several instances); an expired lease is claimed again.
  leased_until    timestamptz,
  lease_token     uuid,
  last_attempt_at timestamptz,
  last_status     integer,
  last_error      text,
  delivered_at    timestamptz,
  created_at      timestamptz NOT NULL,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq DESC);

CREATE TABLE webhook_delivery_attempts (
  delivery_id  text        NOT NULL REFERENCES webhook_deliveries (delivery_id),
  attempt      integer     NOT NULL,
  attempted_at timestamptz NOT NULL,
  -- The HTTP status, or null when no answer came (timeout, refused connection, refused target).
  status       integer,
  error        text,
  duration_ms  integer     NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);

-- How far the delivery worker has turned the log into outbox rows.
CREATE TABLE webhook_outbox_checkpoint (
  name             text        PRIMARY KEY,
  commit_position  numeric(20) NOT NULL,
  prepare_position numeric(20) NOT NULL
);

GRANT SELECT ON webhook_endpoint_changes, webhook_deliveries, webhook_delivery_attempts TO subledger_auditor;
GRANT SELECT (endpoint_id, parent_id, url, description, event_types, created_at, updated_at, disabled_at,
  disabled_reason, deleted_at) ON webhook_endpoints TO subledger_auditor;

-- Down Migration
DROP TABLE webhook_outbox_checkpoint;
DROP TABLE webhook_delivery_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoint_changes;
DROP TABLE webhook_endpoints;
