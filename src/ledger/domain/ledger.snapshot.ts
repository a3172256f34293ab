import type { BillingModel, DecimalPrice, IsoInstant } from './ledger.events';
import {
  initialLedgerState,
  isUsageKeyLive,
  USAGE_KEY_RETENTION_MS,
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
 * A ledger state as JSON, in two parts so that neither outgrows one event (1 MiB) however many
 * idempotency keys a parent has live (rule 5 keeps them 35 days: ~290,000 in the 1M-event bench):
 *
 * - the core (`toSnapshot`), stored in `ledgersnapshot-<parentId>` every N events: everything but
 *   the usage receipts, small whatever the key count;
 * - the key journal (`usageKeyJournal`), appended to `ledgerkeys-<parentId>` just before each core
 *   snapshot: chunks of the receipts recorded in the revisions since the previous one.
 *
 * `restoreUsageKeys(fromSnapshot(core), journal, revision)` folded on with the stream's tail decides
 * every command as the full history does. The journal may hold chunks past the core snapshot (a
 * crash between the two appends) and duplicates; a receipt is kept only if its revision is at most
 * the core's and higher than any receipt already held for its key, so merging is idempotent and the
 * tail supplies everything later. Expired keys (35 days before the newest recording) are left out of
 * both, exactly as decide ignores them.
 */
// 2: billable usage of open periods, closings and the last revision (billing).
// 3: receipts moved from the snapshot to the key journal. A snapshot of another version is
// ignored by the command processor, which then folds the whole stream once.
export const LEDGER_SNAPSHOT_SCHEMA_VERSION = 3;

export type LedgerSnapshot = {
  schemaVersion: typeof LEDGER_SNAPSHOT_SCHEMA_VERSION;
  parent: ParentState | null;
  subAccounts: SubAccountSnapshot[];
  apiKeys: ApiKeyState[];
  closedPeriods: string[];
  invoicesIssued: number;
  /** The newest recordedAt folded (null: none), against which keys expire. */
  latestRecordedAtMs: number | null;
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

/** [subAccountId, idempotencyKey, usageId, fingerprint, remaining, recordedAtMs, revision]. */
export type UsageKeySnapshot = [string, string, string, string, number, number, number];

/**
 * One chunk of the key journal: receipts in revision order, as columns (field names once per
 * chunk, not per key) with sub-accounts as indexes into `subAccounts` and times and revisions as
 * differences from the previous receipt's, which keeps a key to about 100 bytes of JSON.
 */
export type UsageKeyChunk = {
  schemaVersion: typeof LEDGER_SNAPSHOT_SCHEMA_VERSION;
  subAccounts: string[];
  subAccount: number[];
  key: string[];
  usageId: string[];
  fingerprint: string[];
  remaining: number[];
  recordedAtDelta: number[];
  revisionDelta: number[];
};

export function toSnapshot(state: LedgerState): LedgerSnapshot {
  const latest = state.usageKeys.latestRecordedAtMs;
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
    latestRecordedAtMs: Number.isFinite(latest) ? latest : null,
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
  if (source.latestRecordedAtMs !== null) state.usageKeys.latestRecordedAtMs = source.latestRecordedAtMs;
  return state;
}

/** The receipts decide would honour (in recording order), or, with a range, those of its revisions. */
function* currentReceipts(state: LedgerState, after = -1, through = Infinity): Generator<UsageReceipt> {
  const log = state.usageKeys;
  // The log is in revision order: skip to the first receipt after `after` by bisection.
  let low = log.head;
  let high = log.entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (log.entries[middle].revision <= after) low = middle + 1;
    else high = middle;
  }
  for (let index = low; index < log.entries.length; index++) {
    const receipt = log.entries[index];
    if (receipt.revision > through) return;
    // A receipt replaced after its key expired and was reused is no longer in the state.
    if (state.subAccounts.get(receipt.subAccountId)?.receipts.get(receipt.idempotencyKey) !== receipt)
      continue;
    if (!isUsageKeyLive(receipt, log.latestRecordedAtMs)) continue;
    yield receipt;
  }
}

/** Every live receipt as a tuple, oldest first: with the core snapshot, a full image of the state. */
export function usageKeysOf(state: LedgerState): UsageKeySnapshot[] {
  return [...currentReceipts(state)].map((receipt) => [
    receipt.subAccountId,
    receipt.idempotencyKey,
    receipt.usageId,
    receipt.fingerprint,
    receipt.remaining,
    receipt.recordedAtMs,
    receipt.revision,
  ]);
}

/** The core snapshot plus every live key: what two states must share to decide alike. */
export function ledgerImage(state: LedgerState): LedgerSnapshot & { usageKeys: UsageKeySnapshot[] } {
  return { ...toSnapshot(state), usageKeys: usageKeysOf(state) };
}

/**
 * The live receipts of revisions (after, through] as journal chunks of at most about `maxBytes` of
 * JSON each (none when there are none).
 */
export function usageKeyJournal(
  state: LedgerState,
  after: number,
  through: number,
  maxBytes: number,
): UsageKeyChunk[] {
  const chunks: UsageKeyChunk[] = [];
  let chunk: UsageKeyChunk | undefined;
  let indexes = new Map<string, number>();
  let bytes = 0;
  let previousAt = 0;
  let previousRevision = 0;
  for (const receipt of currentReceipts(state, after, through)) {
    // Strings measured as JSON, since a key may hold characters that escaping lengthens.
    const size =
      JSON.stringify(receipt.idempotencyKey).length +
      JSON.stringify(receipt.usageId).length +
      JSON.stringify(receipt.fingerprint).length +
      JSON.stringify(receipt.subAccountId).length +
      60;
    if (!chunk || bytes + size > maxBytes) {
      chunk = {
        schemaVersion: LEDGER_SNAPSHOT_SCHEMA_VERSION,
        subAccounts: [],
        subAccount: [],
        key: [],
        usageId: [],
        fingerprint: [],
        remaining: [],
        recordedAtDelta: [],
        revisionDelta: [],
      };
      chunks.push(chunk);
      indexes = new Map();
      bytes = 300;
      previousAt = 0;
      previousRevision = 0;
    }
    let index = indexes.get(receipt.subAccountId);
    if (index === undefined) {
      index = chunk.subAccounts.push(receipt.subAccountId) - 1;
      indexes.set(receipt.subAccountId, index);
    }
    chunk.subAccount.push(index);
    chunk.key.push(receipt.idempotencyKey);
    chunk.usageId.push(receipt.usageId);
    chunk.fingerprint.push(receipt.fingerprint);
    chunk.remaining.push(receipt.remaining);
    chunk.recordedAtDelta.push(receipt.recordedAtMs - previousAt);
    chunk.revisionDelta.push(receipt.revision - previousRevision);
    previousAt = receipt.recordedAtMs;
    previousRevision = receipt.revision;
    bytes += size;
  }
  return chunks;
}

/**
 * Merges key-journal chunks into a state restored from a core snapshot at `snapshotRevision` and
 * possibly folded further: receipts past `snapshotRevision` are the tail's business, a key keeps its
 * newest receipt, expired receipts stay out. Idempotent; chunks may come in any order.
 */
export function restoreUsageKeys(
  state: LedgerState,
  chunks: readonly unknown[],
  snapshotRevision: number,
): LedgerState {
  const log = state.usageKeys;
  const restored: UsageReceipt[] = [];
  // Chunks come in journal order, so the receipts usually arrive sorted and need no sort.
  let ordered = true;
  for (const given of chunks) {
    const chunk = given as UsageKeyChunk;
    if (
      typeof chunk !== 'object' ||
      chunk === null ||
      chunk.schemaVersion !== LEDGER_SNAPSHOT_SCHEMA_VERSION
    ) {
      throw new Error(`unsupported usage key chunk (schemaVersion ${String(chunk?.schemaVersion)})`);
    }
    // Resolved once per chunk: a chunk names each of its sub-accounts once.
    const subAccounts = chunk.subAccounts.map((id) => {
      const subAccount = state.subAccounts.get(id);
      if (!subAccount) throw new Error(`usage key journal names an unknown sub-account ${id}`);
      return subAccount;
    });
    // A key recorded at or before this instant has expired (isUsageKeyLive, hoisted).
    const expiredAtOrBefore = log.latestRecordedAtMs - USAGE_KEY_RETENTION_MS;
    let recordedAtMs = 0;
    let revision = 0;
    for (let index = 0; index < chunk.key.length; index++) {
      recordedAtMs += chunk.recordedAtDelta[index];
      revision += chunk.revisionDelta[index];
      if (revision > snapshotRevision) break;
      if (recordedAtMs <= expiredAtOrBefore) continue;
      const subAccount = subAccounts[chunk.subAccount[index]];
      const idempotencyKey = chunk.key[index];
      const held = subAccount.receipts.get(idempotencyKey);
      if (held && held.revision >= revision) continue;
      const receipt: UsageReceipt = {
        subAccountId: subAccount.id,
        idempotencyKey,
        usageId: chunk.usageId[index],
        fingerprint: chunk.fingerprint[index],
        remaining: chunk.remaining[index],
        recordedAtMs,
        revision,
      };
      subAccount.receipts.set(idempotencyKey, receipt);
      if (restored.length > 0 && restored[restored.length - 1].revision > revision) ordered = false;
      restored.push(receipt);
    }
  }
  // Every restored receipt predates the tail's, so the log stays in revision order.
  if (!ordered) restored.sort((a, b) => a.revision - b.revision);
  log.entries = restored.concat(log.entries.slice(log.head));
  log.head = 0;
  return state;
}
