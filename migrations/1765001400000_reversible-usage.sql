-- Up Migration

-- The reversible-usage index (SPEC §10, §9): what a reversal needs of every usage record of the last
-- 35 days, and the reversals' own idempotency keys. The write side decides a reversal from it (plus the
-- part of the parent's stream not indexed yet) instead of holding every usage record in memory.
-- occurred_at and billing_period are kept as the event wrote them: the reversal copies them into its
-- own event.
CREATE TABLE reversible_usages_v1 (
  parent_id       text        NOT NULL,
  usage_id        text        NOT NULL,
  sub_account_id  text        NOT NULL,
  credits         bigint      NOT NULL,
  -- Credits reversed so far, by the reversals in usage_reversals_v1.
  reversed        bigint      NOT NULL DEFAULT 0,
  meter           text        NOT NULL,
  occurred_at     text        NOT NULL,
  billing_period  text        NOT NULL,
  late            boolean     NOT NULL,
  recorded_at     timestamptz NOT NULL,
  revision        bigint      NOT NULL,
  PRIMARY KEY (parent_id, usage_id)
);

-- One row per reversal: its idempotency key is per usage record, and a repeat answers this row.
CREATE TABLE usage_reversals_v1 (
  parent_id       text        NOT NULL,
  usage_id        text        NOT NULL,
  idempotency_key text        NOT NULL,
  reversal_id     text        NOT NULL,
  fingerprint     text        NOT NULL,
  credits         bigint      NOT NULL,
  reversed_at     timestamptz NOT NULL,
  revision        bigint      NOT NULL,
  PRIMARY KEY (parent_id, usage_id, idempotency_key)
);

-- How far each parent's stream is indexed (every revision up to `revision`), written in the same
-- transaction as the rows; `latest_recorded_at` is the newest usage recordedAt indexed, the ledger's
-- own clock, against which rows expire.
CREATE TABLE reversible_usage_heads_v1 (
  parent_id          text        PRIMARY KEY,
  revision           bigint      NOT NULL,
  latest_recorded_at timestamptz
);

CREATE VIEW reversible_usages AS SELECT * FROM reversible_usages_v1;
CREATE VIEW usage_reversals AS SELECT * FROM usage_reversals_v1;
CREATE VIEW reversible_usage_heads AS SELECT * FROM reversible_usage_heads_v1;
GRANT SELECT ON reversible_usages_v1, usage_reversals_v1, reversible_usage_heads_v1,
                reversible_usages, usage_reversals, reversible_usage_heads TO subledger_auditor;

-- Down Migration
DROP VIEW reversible_usage_heads;
DROP VIEW usage_reversals;
DROP VIEW reversible_usages;
DROP TABLE reversible_usage_heads_v1;
DROP TABLE usage_reversals_v1;
DROP TABLE reversible_usages_v1;
