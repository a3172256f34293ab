-- Up Migration

-- usage_daily_v1's text keys compare byte by byte (COLLATE "C"), the order JavaScript's string
-- comparison and the usage report's JSON (ORDER BY … COLLATE "C") use. With the database's collation
-- the report had to sort the groups again after reading them in index order (an external merge of
-- 100,000 groups for the 100,000-sub-account parent); with the columns in byte order the primary key
-- already yields them sorted, and comparing ids is a memcmp whatever the server's locale
-- (docs/decisions.md, decision 72). Ids and meters are ASCII, so no row changes; only the primary key
-- index is rebuilt. The stable view depends on the columns and is made again over the same table.
DROP VIEW usage_daily;
ALTER TABLE usage_daily_v1
  ALTER COLUMN parent_id TYPE text COLLATE "C",
  ALTER COLUMN sub_account_id TYPE text COLLATE "C",
  ALTER COLUMN meter TYPE text COLLATE "C";
CREATE VIEW usage_daily AS SELECT * FROM usage_daily_v1;
GRANT SELECT ON usage_daily TO subledger_auditor;

-- Down Migration
DROP VIEW usage_daily;
ALTER TABLE usage_daily_v1
  ALTER COLUMN parent_id TYPE text COLLATE "default",
  ALTER COLUMN sub_account_id TYPE text COLLATE "default",
  ALTER COLUMN meter TYPE text COLLATE "default";
CREATE VIEW usage_daily AS SELECT * FROM usage_daily_v1;
GRANT SELECT ON usage_daily TO subledger_auditor;
