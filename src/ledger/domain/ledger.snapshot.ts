import type { BillingModel, DecimalPrice, IsoInstant } from './ledger.events';
import {
  initialLedgerState,
  type ApiKeyState,
  type LateUsage,
  type LedgerState,
  type PeriodClosing,
  type PeriodUsage,
  type ParentState,
  type SubAccountState,
  type Term,
  type UsageReceipt,
} from './ledger.state';

/**
 * A ledger state as JSON, stored by the application in `ledgersnapshot-<parentId>` every N
 * events so that loading is snapshot + tail instead of the whole history.
 *
 * It is an exact image of the state: `fromSnapshot(toSnapshot(s))` decides every command as
 * `s` does. Idempotency keys need no extra rule here because evolve already forgets a key
 * 35 days after it was recorded (measured against the newest recordedAt it has folded), so a
 * snapshot carries only the keys still remembered, in recording order.
 */
// 2: billable usage of open periods, closings and the last revision (billing). A version-1
// snapshot is ignored by the command processor, which then folds the whole stream once.
export const LEDGER_SNAPSHOT_SCHEMA_VERSION = 2;

export type LedgerSnapshot = {
  schemaVersion: typeof LEDGER_SNAPSHOT_SCHEMA_VERSION;
  parent: ParentState | null;
  subAccounts: SubAccountSnapshot[];
  apiKeys: ApiKeyState[];
  closedPeriods: string[];
  invoicesIssued: number;
  /** [subAccountId, idempotencyKey, usageId, fingerprint, remaining, recordedAtMs], oldest first. */
  usageKeys: UsageKeySnapshot[];
  billableUsage: PeriodUsageSnapshot[];
  closings: PeriodClosing[];
  lastRevision: number;
};

export type PeriodUsageSnapshot = {
  period: string;
  /** [subAccountId, meter, credits]. */
  onTime: [string, string, number][];
  late: LateUsage[];
};

export type SubAccountSnapshot = {
  id: string;
  name: string;
  region: string | null;
  status: SubAccountState['status'];
  createdAt: IsoInstant;
  closedAt: IsoInstant | null;
  quota: number;
  used: number;
  billingModels: Term<BillingModel>[];
  creditPrices: Term<DecimalPrice | null>[];
  keyIds: string[];
};

// Tuples rather than objects: with up to a million keys, repeating six field names per key
// would roughly double the snapshot.
export type UsageKeySnapshot = [string, string, string, string, number, number];

export function toSnapshot(state: LedgerState): LedgerSnapshot {
  const log = state.usageKeys;
  const usageKeys: UsageKeySnapshot[] = [];
  for (let index = log.head; index < log.entries.length; index++) {
    const receipt = log.entries[index];
    // A receipt replaced after its key expired and was reused is no longer in the state.
    if (state.subAccounts.get(receipt.subAccountId)?.receipts.get(receipt.idempotencyKey) !== receipt)
      continue;
    usageKeys.push([
      receipt.subAccountId,
      receipt.idempotencyKey,
      receipt.usageId,
      receipt.fingerprint,
      receipt.remaining,
      receipt.recordedAtMs,
    ]);
  }
  return {
    schemaVersion: LEDGER_SNAPSHOT_SCHEMA_VERSION,
    parent: state.parent && {
      ...state.parent,
      creditPrices: state.parent.creditPrices.map((term) => ({ ...term })),
    },
    subAccounts: [...state.subAccounts.values()].map(({ receipts: _receipts, ...subAccount }) => ({
      ...subAccount,
      billingModels: subAccount.billingModels.map((term) => ({ ...term })),
      creditPrices: subAccount.creditPrices.map((term) => ({ ...term })),
      keyIds: [...subAccount.keyIds],
    })),
    apiKeys: [...state.apiKeys.values()].map((key) => ({ ...key })),
    closedPeriods: [...state.closedPeriods].sort(),
    invoicesIssued: state.invoicesIssued,
    usageKeys,
    billableUsage: [...state.billableUsage].map(([period, usage]) => ({
      period,
      onTime: [...usage.onTime].flatMap(([subAccountId, meters]) =>
        [...meters].map(([meter, credits]): [string, string, number] => [subAccountId, meter, credits]),
      ),
      late: usage.late.map((record) => ({ ...record })),
    })),
    closings: [...state.closings.values()].map((closing) => ({
      ...closing,
      invoiceIds: [...closing.invoiceIds],
    })),
    lastRevision: state.lastRevision,
  };
}

/** Accepts the parsed JSON of a snapshot; refuses any other schema version. */
export function fromSnapshot(snapshot: unknown): LedgerState {
  const source = snapshot as LedgerSnapshot;
  if (
    typeof source !== 'object' ||
    source === null ||
    source.schemaVersion !== LEDGER_SNAPSHOT_SCHEMA_VERSION
  ) {
    throw new Error(`unsupported ledger snapshot (schemaVersion ${String(source?.schemaVersion)})`);
  }
  const state = initialLedgerState();
  state.parent = source.parent && {
    ...source.parent,
    creditPrices: source.parent.creditPrices.map((term) => ({ ...term })),
  };
  for (const subAccount of source.subAccounts) {
    state.subAccounts.set(subAccount.id, {
      ...subAccount,
      billingModels: subAccount.billingModels.map((term) => ({ ...term })),
      creditPrices: subAccount.creditPrices.map((term) => ({ ...term })),
      keyIds: [...subAccount.keyIds],
      receipts: new Map(),
    });
  }
  for (const key of source.apiKeys) state.apiKeys.set(key.keyId, { ...key });
  for (const period of source.closedPeriods) state.closedPeriods.add(period);
  state.invoicesIssued = source.invoicesIssued;
  for (const { period, onTime, late } of source.billableUsage) {
    const usage: PeriodUsage = { onTime: new Map(), late: late.map((record) => ({ ...record })) };
    for (const [subAccountId, meter, credits] of onTime) {
      let meters = usage.onTime.get(subAccountId);
      if (!meters) {
        meters = new Map();
        usage.onTime.set(subAccountId, meters);
      }
      meters.set(meter, credits);
    }
    state.billableUsage.set(period, usage);
  }
  for (const closing of source.closings) {
    state.closings.set(closing.period, { ...closing, invoiceIds: [...closing.invoiceIds] });
  }
  state.lastRevision = source.lastRevision;
  const log = state.usageKeys;
  for (const [
    subAccountId,
    idempotencyKey,
    usageId,
    fingerprint,
    remaining,
    recordedAtMs,
  ] of source.usageKeys) {
    const receipt: UsageReceipt = {
      subAccountId,
      idempotencyKey,
      usageId,
      fingerprint,
      remaining,
      recordedAtMs,
    };
    const subAccount = state.subAccounts.get(subAccountId);
    if (!subAccount)
      throw new Error(`ledger snapshot has a usage key of unknown sub-account ${subAccountId}`);
    subAccount.receipts.set(idempotencyKey, receipt);
    log.entries.push(receipt);
    if (recordedAtMs > log.latestRecordedAtMs) log.latestRecordedAtMs = recordedAtMs;
  }
  return state;
}
