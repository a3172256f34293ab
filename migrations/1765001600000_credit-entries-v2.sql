-- Up Migration

-- credit-entries v2: each row also keeps its history entry (the JSON that GET …/history and
-- GET …/pool/history answer, without the cursor), so a page is one index range of this table and no
-- longer a read of its events back from the log. Reading back cost the service ~30 µs of the event
-- store client's decoding per event, and a sub-account's events sit between its siblings': a page of
-- 50 read ~500 events for a parent of 10 sub-accounts, or made 50 reads for a larger one (decision 81).
-- The runner folds the log into this table while credit_entries_v1 keeps serving, then points the
-- credit_entries view at it (blue/green, decision 46). `json`, not `jsonb`: the text is kept as written
-- (the service hands it back as it is), and auditors can still use ->, ->> on it.
CREATE TABLE credit_entries_v2 (LIKE credit_entries_v1 INCLUDING ALL);
ALTER TABLE credit_entries_v2 ADD COLUMN entry json NOT NULL;
GRANT SELECT ON credit_entries_v2 TO subledger_auditor;

-- Down Migration
DROP VIEW IF EXISTS credit_entries;
CREATE VIEW credit_entries AS SELECT * FROM credit_entries_v1;
GRANT SELECT ON credit_entries TO subledger_auditor;
DROP TABLE credit_entries_v2;
