-- Up Migration

-- The idempotency-key index (SPEC §9, rule 5): the newest receipt of every usage key of the last 35
-- days, one row per (parent, sub-account, key). The write side answers a repeat from it (plus the part
-- of the parent's stream not indexed yet), instead of holding every key in memory.
CREATE TABLE usage_keys_v1 (
  parent_id       text        NOT NULL,
  sub_account_id  text        NOT NULL,
  idempotency_key text        NOT NULL,
  usage_id        text        NOT NULL,
  fingerprint     text        NOT NULL,
  remaining       bigint      NOT NULL,
  recorded_at     timestamptz NOT NULL,
  revision        bigint      NOT NULL,
  PRIMARY KEY (parent_id, sub_account_id, idempotency_key)
);
-- For the expiry DELETE, per parent, oldest first.

-- How far each parent's stream is indexed: every revision up to `revision` is in usage_keys_v1 (a key
-- reused after it expired keeps its newest receipt). Written in the same transaction as the rows, so a
-- reader that gets both in one statement never sees a head ahead of its rows. `latest_recorded_at` is
-- the newest recordedAt indexed, the ledger's own clock, against which keys expire.
CREATE TABLE usage_key_heads_v1 (
  parent_id          text        PRIMARY KEY,
  revision           bigint      NOT NULL,
  latest_recorded_at timestamptz
);

CREATE VIEW usage_keys AS SELECT * FROM usage_keys_v1;
CREATE VIEW usage_key_heads AS SELECT * FROM usage_key_heads_v1;
GRANT SELECT ON usage_keys_v1, usage_key_heads_v1, usage_keys, usage_key_heads TO subledger_auditor;

-- Down Migration
DROP VIEW usage_key_heads;
DROP VIEW usage_keys;
DROP TABLE usage_key_heads_v1;
DROP TABLE usage_keys_v1;
