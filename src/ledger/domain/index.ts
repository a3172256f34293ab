import { decideWithResult } from './ledger.decider';
import { evolve, initialLedgerState } from './ledger.state';
import type { LedgerCommand } from './ledger.commands';
import {
  fromSnapshot,
  LEDGER_SNAPSHOT_SCHEMA_VERSION,
  restoreUsageKeys,
  toSnapshot,
  usageKeyJournal,
} from './ledger.snapshot';
import { USAGE_KEY_RETENTION_MS, type LedgerState } from './ledger.state';

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
 * (snapshot + tail) after losing a race.
 */
export const ledgerDecider = {
  initialState: initialLedgerState,
  evolve,
  decide: decideWithResult,
  toSnapshot,
  fromSnapshot,
  snapshotVersion: LEDGER_SNAPSHOT_SCHEMA_VERSION,
  snapshotJournal: usageKeySnapshotJournal((command: LedgerCommand) => command.type !== 'RecordUsage'),
};

/**
 * The idempotency keys as the deferred part of the ledger's snapshot (`ledgerkeys-<parentId>`):
 * only usage needs them, so everything else, reads included, is answered while they load.
 * The store may drop a chunk a day after every key in it has expired.
 */
export function usageKeySnapshotJournal<Command>(decidableWithout: (command: Command) => boolean) {
  return {
    name: 'keys',
    maxAgeSeconds: USAGE_KEY_RETENTION_MS / 1000 + 24 * 60 * 60,
    entries: (state: LedgerState, after: bigint, through: bigint, maxBytes: number) =>
      usageKeyJournal(state, Number(after), Number(through), maxBytes),
    restore: (state: LedgerState, entries: readonly unknown[], snapshotRevision: bigint) =>
      restoreUsageKeys(state, entries, Number(snapshotRevision)),
    decidableWithout,
  };
}
