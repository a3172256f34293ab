import { decideWithResult } from './ledger.decider';
import { evolve, initialLedgerState } from './ledger.state';
import type { LedgerCommand } from './ledger.commands';
import { fromSnapshot, LEDGER_SNAPSHOT_SCHEMA_VERSION, toSnapshot } from './ledger.snapshot';
import type { LedgerState } from './ledger.state';

export * from './credits';
export * from './domain-error';
export * from './ledger.commands';
export * from './ledger.decider';
export * from './ledger.events';
export * from './ledger.invoices';
export * from './ledger.queries';
export * from './ledger.snapshot';
export * from './ledger.state';
export * from './usage-fingerprint';
export { isDisplaySafe, samePrice, UNSAFE_TEXT_MESSAGE } from './ledger.validation';

/** The stream holding every event of one parent and its sub-accounts (docs/stream-layout.md). */
export const LEDGER_CATEGORY = 'ledger';
export function ledgerStreamName(parentId: string): string {
  return `${LEDGER_CATEGORY}-${parentId}`;
}

/**
 * The ledger as the application's command processor consumes it. No `clone`: copying a state
 * with a million idempotency keys before every batch would cost more than the rare reload
 * (snapshot + tail) after losing a race. Usage is decided on the receipts in memory alone: a state
 * that left some to the key index needs the application's lookup (`decideUsage`).
 */
export const ledgerDecider = {
  initialState: initialLedgerState,
  evolve,
  decide: (command: LedgerCommand, state: LedgerState) => decideWithResult(command, state),
  toSnapshot,
  fromSnapshot,
  snapshotVersion: LEDGER_SNAPSHOT_SCHEMA_VERSION,
};
