import type { BillingModel, DecimalPrice, IsoInstant } from './ledger.events';
import { insertInBurnOrder, type LotState } from './ledger.lots';
import {
  initialLedgerState,
  isUsageKeyLive,
  isTailEntryLive,
  pushToTail,
  type CreditReversal,
  type ReversalReceipt,
  type ReversibleUsage,
  type ApiKeyState,
  type LateUsage,
  type LedgerState,
  type PeriodClosing,
  type PeriodUsage,
  type ParentState,
  type SubAccountState,
  type UsageReceipt,
} from './ledger.state';

/**
 * A ledger state as JSON, for the command processor's snapshots (`ledgersnapshot-<parentId>`, in
 * chunks when it outgrows one event). The idempotency keys are in it as far as the state holds them:
 * once the key index (PostgreSQL) has committed a parent's receipts, the state drops them
 * (`forgetIndexedUsageKeys`) and the snapshot carries only the ones not indexed yet, with
 * `indexedThrough`, so a state loaded from it decides usage with a lookup of the index exactly as the
 * state it was taken from. Expired keys (35 days before the newest recording) are left out, exactly as
 * decide ignores them.
 */
// 2: billable usage of open periods, closings and the last revision (billing).
// 3: receipts moved from the snapshot to the key journal.
// 4: receipts not yet indexed back in the snapshot, with indexedThrough; no key journal.
// 5: sub-accounts as rows.
// 6: credit lots (SPEC §10): the lots, each sub-account's holdings and recurring allocation, the
//    usage that may still be reversed, and reversals credited in open periods.
// 7: alerts (SPEC §11): the parent's thresholds and each sub-account's thresholds alerted.
// 8: reversible usage only as far as the reversible-usage index has not committed it (`reversible`),
//    instead of every usage of the last 35 days.
// A snapshot of another version is ignored by the command processor, which then folds the whole
// stream once.
export const LEDGER_SNAPSHOT_SCHEMA_VERSION = 8;

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
  /** The receipts memory holds, oldest first: every live one, or those after `indexedThrough`. */
  usageKeys: UsageKeyColumns;
  indexedThrough: number;
  lots: LotSnapshot[];
  /** Memory's tail of usage and reversals above what the reversible-usage index committed. */
  reversible: {
    indexedThrough: number;
    /** In revision order, usage and reversals interleaved as in the stream. */
    entries: (ReversibleUsageSnapshot | ReversalSnapshot)[];
  };
};

/** [lotId, kind, credits, expiresAt, priority, purchasedAt, reference, pool, inQuotas, used, expired, lapsed]. */
export type LotSnapshot = [
  string,
  LotState['kind'],
  number,
  IsoInstant | null,
  number,
  IsoInstant,
  string | null,
  number,
  number,
  number,
  number,
  boolean,
];

/** ['u', usageId, subAccountId, credits, meter, occurredAt, billingPeriod, late, recordedAtMs, revision]. */
export type ReversibleUsageSnapshot = [
  'u',
  string,
  string,
  number,
  string,
  IsoInstant,
  string,
  boolean,
  number,
  number,
];

/** ['r', usageId, idempotencyKey, reversalId, fingerprint, credits, reversedAtMs, revision]. */
export type ReversalSnapshot = ['r', string, string, string, string, number, number, number];

export type PeriodUsageSnapshot = {
  period: string;
  /** [subAccountId, meter, credits]. */
  onTime: [string, string, number][];
  late: LateUsage[];
  reversals: CreditReversal[];
};

/**
 * A sub-account as a row, field names left out: a parent of 100,000 sub-accounts is then ~14 MB of
 * JSON instead of ~28, which halves the time its snapshot holds the event loop and the chunks it takes.
 * [id, name, region, status, createdAt, closedAt, quota, used, billingModels, creditPrices, keyIds,
 * lots as [lotId, unused, used], recurring as [credits, lastPeriod, lastCredits], alerted thresholds], terms as
 * [effectiveFrom, value].
 */
export type SubAccountSnapshot = [
  string,
  string,
  string | null,
  SubAccountState['status'],
  IsoInstant,
  IsoInstant | null,
  number,
  number,
  [string, BillingModel][],
  [string, DecimalPrice | null][],
  string[],
  [string, number, number][],
  [number | null, string | null, number],
  number[],
];

/** [subAccountId, idempotencyKey, usageId, fingerprint, remaining, recordedAtMs, revision]. */
export type UsageKeySnapshot = [string, string, string, string, number, number, number];

/**
 * Receipts in revision order, as columns (field names once, not per key) with sub-accounts as indexes
 * into `subAccounts` and times and revisions as differences from the previous receipt's, which keeps a
 * key to about 100 bytes of JSON.
 */
export type UsageKeyColumns = {
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
      alertThresholds: [...state.parent.alertThresholds],
    },
    subAccounts: [...state.subAccounts.values()].map((subAccount): SubAccountSnapshot => [
      subAccount.id,
      subAccount.name,
      subAccount.region,
      subAccount.status,
      subAccount.createdAt,
      subAccount.closedAt,
      subAccount.quota,
      subAccount.used,
      subAccount.billingModels.map((term): [string, BillingModel] => [term.effectiveFrom, term.value]),
      subAccount.creditPrices.map((term): [string, DecimalPrice | null] => [term.effectiveFrom, term.value]),
      [...subAccount.keyIds],
      [...subAccount.lots].map(([lotId, { unused, used }]): [string, number, number] => [
        lotId,
        unused,
        used,
      ]),
      [subAccount.recurring.credits, subAccount.recurring.lastPeriod, subAccount.recurring.lastCredits],
      [...subAccount.alerted],
    ]),
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
      reversals: usage.reversals.map((reversal) => ({ ...reversal })),
    })),
    closings: [...state.closings.values()].map((closing) => ({
      ...closing,
      invoiceIds: [...closing.invoiceIds],
    })),
    lastRevision: state.lastRevision,
    usageKeys: usageKeyColumns(state),
    indexedThrough: state.usageKeys.indexedThrough,
    lots: state.lotOrder.map((lot): LotSnapshot => [
      lot.lotId,
      lot.kind,
      lot.credits,
      lot.expiresAt,
      lot.priority,
      lot.purchasedAt,
      lot.reference,
      lot.pool,
      lot.inQuotas,
      lot.used,
      lot.expired,
      lot.lapsed,
    ]),
    reversible: {
      indexedThrough: state.reversible.indexedThrough,
      entries: tailEntries(state).map((entry): ReversibleUsageSnapshot | ReversalSnapshot =>
        'reversalId' in entry
          ? [
              'r',
              entry.usageId,
              entry.idempotencyKey,
              entry.reversalId,
              entry.fingerprint,
              entry.credits,
              entry.reversedAtMs,
              entry.revision,
            ]
          : [
              'u',
              entry.usageId,
              entry.subAccountId,
              entry.credits,
              entry.meter,
              entry.occurredAt,
              entry.billingPeriod,
              entry.late,
              entry.recordedAtMs,
              entry.revision,
            ],
      ),
    },
  };
}

/** Memory's tail, oldest first, without what 35 days have expired (decide ignores it too). */
function tailEntries(state: LedgerState): (ReversibleUsage | ReversalReceipt)[] {
  const tail = state.reversible;
  const latest = state.usageKeys.latestRecordedAtMs;
  return tail.entries.slice(tail.head).filter((entry) => isTailEntryLive(entry, latest));
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
    alertThresholds: [...source.parent.alertThresholds],
  };
  for (const [
    id,
    name,
    region,
    status,
    createdAt,
    closedAt,
    quota,
    used,
    billingModels,
    creditPrices,
    keyIds,
    lots,
    [recurringCredits, lastPeriod, lastCredits],
    alerted,
  ] of source.subAccounts) {
    state.subAccounts.set(id, {
      id,
      name,
      region,
      status,
      createdAt,
      closedAt,
      quota,
      used,
      billingModels: billingModels.map(([effectiveFrom, value]) => ({ effectiveFrom, value })),
      creditPrices: creditPrices.map(([effectiveFrom, value]) => ({ effectiveFrom, value })),
      keyIds: [...keyIds],
      receipts: new Map(),
      lots: new Map(lots.map(([lotId, unused, used]) => [lotId, { unused, used }])),
      recurring: { credits: recurringCredits, lastPeriod, lastCredits },
      alerted: new Set(alerted),
    });
  }
  for (const key of source.apiKeys) state.apiKeys.set(key.keyId, { ...key });
  for (const period of source.closedPeriods) state.closedPeriods.add(period);
  state.invoicesIssued = source.invoicesIssued;
  for (const { period, onTime, late, reversals } of source.billableUsage) {
    const usage: PeriodUsage = {
      onTime: new Map(),
      late: late.map((record) => ({ ...record })),
      reversals: reversals.map((reversal) => ({ ...reversal })),
    };
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
  state.usageKeys.indexedThrough = source.indexedThrough;
  restoreUsageKeys(state, source.usageKeys);
  restoreLots(state, source.lots);
  restoreTail(state, source.reversible);
  return state;
}

function restoreTail(state: LedgerState, source: LedgerSnapshot['reversible']): void {
  state.reversible.indexedThrough = source.indexedThrough;
  for (const entry of source.entries) {
    if (entry[0] === 'u') {
      const [
        ,
        usageId,
        subAccountId,
        credits,
        meter,
        occurredAt,
        billingPeriod,
        late,
        recordedAtMs,
        revision,
      ] = entry;
      pushToTail(state.reversible, {
        usageId,
        subAccountId,
        credits,
        meter,
        occurredAt,
        billingPeriod,
        late,
        recordedAtMs,
        revision,
      });
    } else {
      const [, usageId, idempotencyKey, reversalId, fingerprint, credits, reversedAtMs, revision] = entry;
      pushToTail(state.reversible, {
        usageId,
        idempotencyKey,
        reversalId,
        fingerprint,
        credits,
        reversedAtMs,
        revision,
      });
    }
  }
}

function restoreLots(state: LedgerState, lots: readonly LotSnapshot[]): void {
  for (const [
    lotId,
    kind,
    credits,
    expiresAt,
    priority,
    purchasedAt,
    reference,
    pool,
    inQuotas,
    used,
    expired,
    lapsed,
  ] of lots) {
    const lot: LotState = {
      lotId,
      kind,
      credits,
      expiresAt,
      expiresAtMs: expiresAt === null ? Number.POSITIVE_INFINITY : Date.parse(expiresAt),
      priority,
      purchasedAt,
      purchasedAtMs: Date.parse(purchasedAt),
      reference,
      pool,
      inQuotas,
      used,
      expired,
      lapsed,
    };
    state.lots.set(lotId, lot);
    insertInBurnOrder(state.lotOrder, lot);
  }
}

/** The receipts decide would honour, in recording order. */
function* currentReceipts(state: LedgerState): Generator<UsageReceipt> {
  const log = state.usageKeys;
  for (let index = log.head; index < log.entries.length; index++) {
    const receipt = log.entries[index];
    // A receipt replaced after its key expired and was reused is no longer in the state.
    if (state.subAccounts.get(receipt.subAccountId)?.receipts.get(receipt.idempotencyKey) !== receipt)
      continue;
    if (!isUsageKeyLive(receipt, log.latestRecordedAtMs)) continue;
    yield receipt;
  }
}

/** Every live receipt memory holds as a tuple, oldest first. */
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

/**
 * What two states must share to decide alike: the snapshot, with the receipts as tuples. (Two states
 * that left different revisions to the key index also decide alike, given the index.)
 */
export function ledgerImage(
  state: LedgerState,
): Omit<LedgerSnapshot, 'usageKeys'> & { usageKeys: UsageKeySnapshot[] } {
  return { ...toSnapshot(state), usageKeys: usageKeysOf(state) };
}

function usageKeyColumns(state: LedgerState): UsageKeyColumns {
  const columns: UsageKeyColumns = {
    subAccounts: [],
    subAccount: [],
    key: [],
    usageId: [],
    fingerprint: [],
    remaining: [],
    recordedAtDelta: [],
    revisionDelta: [],
  };
  const indexes = new Map<string, number>();
  let previousAt = 0;
  let previousRevision = 0;
  for (const receipt of currentReceipts(state)) {
    let index = indexes.get(receipt.subAccountId);
    if (index === undefined) {
      index = columns.subAccounts.push(receipt.subAccountId) - 1;
      indexes.set(receipt.subAccountId, index);
    }
    columns.subAccount.push(index);
    columns.key.push(receipt.idempotencyKey);
    columns.usageId.push(receipt.usageId);
    columns.fingerprint.push(receipt.fingerprint);
    columns.remaining.push(receipt.remaining);
    columns.recordedAtDelta.push(receipt.recordedAtMs - previousAt);
    columns.revisionDelta.push(receipt.revision - previousRevision);
    previousAt = receipt.recordedAtMs;
    previousRevision = receipt.revision;
  }
  return columns;
}

function restoreUsageKeys(state: LedgerState, columns: UsageKeyColumns): void {
  const subAccounts = columns.subAccounts.map((id) => {
    const subAccount = state.subAccounts.get(id);
    if (!subAccount) throw new Error(`ledger snapshot has usage keys of an unknown sub-account ${id}`);
    return subAccount;
  });
  let recordedAtMs = 0;
  let revision = 0;
  for (let index = 0; index < columns.key.length; index++) {
    recordedAtMs += columns.recordedAtDelta[index];
    revision += columns.revisionDelta[index];
    const subAccount = subAccounts[columns.subAccount[index]];
    const receipt: UsageReceipt = {
      subAccountId: subAccount.id,
      idempotencyKey: columns.key[index],
      usageId: columns.usageId[index],
      fingerprint: columns.fingerprint[index],
      remaining: columns.remaining[index],
      recordedAtMs,
      revision,
    };
    subAccount.receipts.set(receipt.idempotencyKey, receipt);
    state.usageKeys.entries.push(receipt);
  }
}
