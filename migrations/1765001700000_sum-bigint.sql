-- Up Migration

-- sum_bigint(bigint): the sum of bigints as a bigint. PostgreSQL's own sum(bigint) returns numeric, so
-- that no total can overflow; each group's total is then made and written out as a numeric, which cost
-- the usage report of the 100,000-sub-account parent ~30 of its ~115 ms in PostgreSQL (decision 89).
-- int8pl is the bigint + operator itself: a total past 9,223,372,036,854,775,807 credits (no ledger
-- holds one) is the error "bigint out of range", never a wrapped number. Like sum, it is NULL over no
-- rows. Anyone may call it, auditors included.
CREATE AGGREGATE sum_bigint(bigint) (
  SFUNC = int8pl,
  STYPE = bigint,
  COMBINEFUNC = int8pl,
  PARALLEL = SAFE
);

-- Down Migration
DROP AGGREGATE sum_bigint(bigint);
