-- Up Migration

-- What the service's timer has to look at (SPEC §10): one row per lot with an expiry and one per
-- sub-account with a recurring allocation, with the instant it is next due. The timer sends the
-- parent's ExpireCredits / RenewRecurringAllocations when a row is due; the decider records nothing if
-- the work is already done, so this table only has to be never late, not exact.
--   kind 'lot':       item = lotId, due_at = expiresAt (the grace period is added by the timer);
--                     done once its CreditsExpired is recorded, undone if a reversal gives it credits back.
--   kind 'recurring': item = subAccountId, due_at = the start of the next period to allocate.
CREATE TABLE credit_schedule_v1 (
  parent_id text        NOT NULL,
  kind      text        NOT NULL,
  item      text        NOT NULL,
  due_at    timestamptz NOT NULL,
  done      boolean     NOT NULL DEFAULT false,
  PRIMARY KEY (parent_id, kind, item)
);
CREATE INDEX credit_schedule_v1_due ON credit_schedule_v1 (due_at) WHERE NOT done;

CREATE VIEW credit_schedule AS SELECT * FROM credit_schedule_v1;
GRANT SELECT ON credit_schedule_v1, credit_schedule TO subledger_auditor;

-- Down Migration
DROP VIEW credit_schedule;
DROP TABLE credit_schedule_v1;
