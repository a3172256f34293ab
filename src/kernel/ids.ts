/**
 * The id of a parent or sub-account: 1–64 of A-Z a-z 0-9 `_` `.` `-`, starting with a letter or
 * digit. Ids end up in stream names (`ledger-<parentId>`) and URLs, so they stay URL- and
 * stream-safe; a dash is fine because the category is the part before the first dash. The ledger
 * refuses any other id, its DTOs state it, and the auth guard answers 404 for a path id no one can
 * have; it sits here, importing nothing, so each of them imports it downwards.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
