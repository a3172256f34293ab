-- Up Migration

-- Where each read model has got to in `$all`: its rows and this row change in one transaction, so a
-- crash can neither skip nor double-count an event (SPEC §9). One row per projection and version: a
-- new version rebuilds into tables of its own while the old version's keep serving.
CREATE TABLE read_model_checkpoints (
  projection       text        NOT NULL,
  version          integer     NOT NULL,
  commit_position  bigint      NOT NULL,
  prepare_position bigint      NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, version)
);

-- Every credit movement of a sub-account, and of a parent's pool (account = ''), with the
-- sub-account's balance after it: the audit trail's index and the balance-as-of timeline in one.
-- revision is the event's place in the stream ledger-<parent_id>, where the whole event is.
CREATE TABLE credit_entries_v1 (
  parent_id   text        NOT NULL,
  account     text        NOT NULL,
  revision    bigint      NOT NULL,
  recorded_at timestamptz,
  event_type  text        NOT NULL,
  credits     bigint      NOT NULL,
  quota_after bigint,
  used_after  bigint,
  PRIMARY KEY (parent_id, account, revision)
);
CREATE INDEX credit_entries_v1_by_time ON credit_entries_v1 (parent_id, account, recorded_at, revision);

-- Usage per (sub-account, meter, UTC day of occurredAt).
CREATE TABLE usage_daily_v1 (
  parent_id      text   NOT NULL,
  sub_account_id text   NOT NULL,
  meter          text   NOT NULL,
  day            date   NOT NULL,
  credits        bigint NOT NULL,
  records        bigint NOT NULL,
  PRIMARY KEY (parent_id, sub_account_id, meter, day)
);

-- Stable names for people and tools: a version bump repoints these once the new tables caught up.
CREATE VIEW credit_entries AS SELECT * FROM credit_entries_v1;
CREATE VIEW usage_daily AS SELECT * FROM usage_daily_v1;

-- A read-only role for auditors (docs/read-model.md): GRANT subledger_auditor TO <login>.
DO $$
BEGIN
  CREATE ROLE subledger_auditor NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
GRANT USAGE ON SCHEMA public TO subledger_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO subledger_auditor;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO subledger_auditor;

-- Down Migration
DROP VIEW usage_daily;
DROP VIEW credit_entries;
DROP TABLE usage_daily_v1;
DROP TABLE credit_entries_v1;
DROP TABLE read_model_checkpoints;
