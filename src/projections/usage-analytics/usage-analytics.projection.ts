import type { UsageRecorded } from '../../ledger/domain/ledger.events';
import { movesNoCredits, parentIdOfStream, unhandledEvent, type Projection } from '../projection';

const DAY_MS = 86_400_000;

/**
 * Usage totals per parent in buckets of (sub-account, meter, UTC day of occurredAt). A bucket is a few
 * numbers in parallel arrays, and there are at most sub-accounts × meters × days of them (rule 9 keeps
 * occurredAt within 35 days of its recording), however many usage events there are.
 */
export interface ParentUsage {
  readonly subAccounts: string[];
  readonly meters: string[];
  readonly subAccountIndex: Map<string, number>;
  readonly meterIndex: Map<string, number>;
  readonly bucketIndex: Map<string, number>;
  readonly bucketSubAccount: number[];
  readonly bucketMeter: number[];
  /** Days since the epoch (UTC). */
  readonly bucketDay: number[];
  readonly bucketCredits: number[];
  readonly bucketRecords: number[];
}

export type UsageAnalyticsState = Map<string, ParentUsage>;

type ParentUsageSnapshot = {
  subAccounts: string[];
  meters: string[];
  s: number[];
  m: number[];
  d: number[];
  c: number[];
  n: number[];
};

export const usageAnalyticsProjection: Projection<UsageAnalyticsState> = {
  name: 'usage-analytics',
  version: 1,
  initialState: () => new Map(),
  evolve(state, event) {
    if (movesNoCredits(event)) return state;
    switch (event.type) {
      case 'UsageRecorded':
        addUsage(state, parentIdOfStream(event.streamName), event.data);
        break;
      case 'CreditsPurchased':
      case 'SubAccountCreated':
      case 'QuotaAllocated':
      case 'CreditsReturned':
      case 'SubAccountClosed':
        break;
      default:
        unhandledEvent(event);
    }
    return state;
  },
  toSnapshot(state) {
    const snapshot: Record<string, ParentUsageSnapshot> = {};
    for (const [parentId, parent] of state) {
      snapshot[parentId] = {
        subAccounts: parent.subAccounts,
        meters: parent.meters,
        s: parent.bucketSubAccount,
        m: parent.bucketMeter,
        d: parent.bucketDay,
        c: parent.bucketCredits,
        n: parent.bucketRecords,
      };
    }
    return snapshot;
  },
  fromSnapshot(json) {
    const state: UsageAnalyticsState = new Map();
    for (const [parentId, saved] of Object.entries(json as Record<string, ParentUsageSnapshot>)) {
      const parent: ParentUsage = {
        subAccounts: saved.subAccounts,
        meters: saved.meters,
        subAccountIndex: new Map(saved.subAccounts.map((id, i) => [id, i])),
        meterIndex: new Map(saved.meters.map((meter, i) => [meter, i])),
        bucketIndex: new Map(saved.s.map((sub, i) => [`${sub}:${saved.m[i]}:${saved.d[i]}`, i])),
        bucketSubAccount: saved.s,
        bucketMeter: saved.m,
        bucketDay: saved.d,
        bucketCredits: saved.c,
        bucketRecords: saved.n,
      };
      state.set(parentId, parent);
    }
    return state;
  },
};

function addUsage(state: UsageAnalyticsState, parentId: string, data: UsageRecorded['data']): void {
  let parent = state.get(parentId);
  if (!parent) {
    parent = emptyParentUsage();
    state.set(parentId, parent);
  }
  const sub = intern(parent.subAccounts, parent.subAccountIndex, data.subAccountId);
  const meter = intern(parent.meters, parent.meterIndex, data.meter);
  const day = Math.floor(Date.parse(data.occurredAt) / DAY_MS);
  const key = `${sub}:${meter}:${day}`;
  let bucket = parent.bucketIndex.get(key);
  if (bucket === undefined) {
    bucket = parent.bucketCredits.length;
    parent.bucketIndex.set(key, bucket);
    parent.bucketSubAccount.push(sub);
    parent.bucketMeter.push(meter);
    parent.bucketDay.push(day);
    parent.bucketCredits.push(0);
    parent.bucketRecords.push(0);
  }
  parent.bucketCredits[bucket] += data.credits;
  parent.bucketRecords[bucket] += 1;
}

function emptyParentUsage(): ParentUsage {
  return {
    subAccounts: [],
    meters: [],
    subAccountIndex: new Map(),
    meterIndex: new Map(),
    bucketIndex: new Map(),
    bucketSubAccount: [],
    bucketMeter: [],
    bucketDay: [],
    bucketCredits: [],
    bucketRecords: [],
  };
}

function intern(values: string[], index: Map<string, number>, value: string): number {
  let i = index.get(value);
  if (i === undefined) {
    i = values.length;
    values.push(value);
    index.set(value, i);
  }
  return i;
}
