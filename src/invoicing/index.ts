/*
 * Money, currencies, billing periods and invoices: the pure core that the ledger (which records
 * usage and issues invoices as events) and billing (which closes, drafts and replays periods) both
 * import. It imports nothing of either, and no framework (docs/money-and-invoices.md).
 */
export * from './billing-validation.error';
export * from './currencies';
export * from './invoice';
export * from './invoice-comparison';
export * from './money';
export * from './period';
