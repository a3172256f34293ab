import type { SubAccountBalances } from '../../ledger/domain/ledger.events';
import { Float64Column } from '../float64-column';
import {
  movesNoCredits,
  parentIdOfStream,
  unhandledEvent,
  type Projection,
  type ProjectionReadOptions,
  type RecordedEnvelope,
} from '../projection';
import type { ProjectionRunner } from '../projection-runner';

/**
 * A sub-account's balance after each of its credit events, as three Float64 columns (recordedAt, quota,
 * used): 24 bytes an event, and "the balance as of T" is one binary search. Taken from each event's
 * `balancesAfter`, the same numbers the write side decided on, so the read side never re-derives a
 * balance and cannot disagree with the ledger.
 */
export interface BalanceTimeline {
  /** recordedAt in epoch ms as a running maximum, so the column stays sorted (see history's note). */
  readonly recordedAtKeys: Float64Column;
  readonly quota: Float64Column;
  readonly used: Float64Column;
}

export type BalanceAsOfState = Map<string, Map<string, BalanceTimeline>>;

type TimelineSnapshot = { t: string; q: string; u: string };

const NOTHING_YET = { quota: 0, used: 0 };

/** Appends the sub-account's balance after `event` to its timeline. */
function record(
  state: BalanceAsOfState,
  event: RecordedEnvelope,
  subAccountId: string,
  after: { readonly quota: number; readonly used: number },
): void {
  const parentId = parentIdOfStream(event.streamName);
  let parent = state.get(parentId);
  if (!parent) {
    parent = new Map();
    state.set(parentId, parent);
  }
  let timeline = parent.get(subAccountId);
  if (!timeline) {
    timeline = { recordedAtKeys: new Float64Column(), quota: new Float64Column(), used: new Float64Column() };
    parent.set(subAccountId, timeline);
  }
  const previous = timeline.recordedAtKeys.last() ?? -Infinity;
  const recordedAt = event.recordedAtMs;
  timeline.recordedAtKeys.push(Number.isNaN(recordedAt) ? previous : Math.max(previous, recordedAt));
  timeline.quota.push(after.quota);
  timeline.used.push(after.used);
}

export const balanceAsOfProjection: Projection<BalanceAsOfState> = {
  name: 'balance-as-of',
  version: 1,
  initialState: () => new Map(),
  evolve(state, event) {
    if (movesNoCredits(event)) return state;
    switch (event.type) {
      case 'SubAccountCreated':
        record(state, event, event.data.subAccountId, NOTHING_YET);
        break;
      case 'QuotaAllocated':
      case 'CreditsReturned':
      case 'UsageRecorded':
      case 'SubAccountClosed':
        record(state, event, event.data.subAccountId, event.data.balancesAfter.subAccount);
        break;
      case 'CreditsPurchased':
        break;
      default:
        unhandledEvent(event);
    }
    return state;
  },
  toSnapshot(state) {
    const snapshot: Record<string, Record<string, TimelineSnapshot>> = {};
    for (const [parentId, parent] of state) {
      const subs: Record<string, TimelineSnapshot> = {};
      for (const [subId, timeline] of parent) {
        subs[subId] = {
          t: timeline.recordedAtKeys.toBase64(),
          q: timeline.quota.toBase64(),
          u: timeline.used.toBase64(),
        };
      }
      snapshot[parentId] = subs;
    }
    return snapshot;
  },
  fromSnapshot(json) {
    const state: BalanceAsOfState = new Map();
    for (const [parentId, subs] of Object.entries(json as Record<string, Record<string, TimelineSnapshot>>)) {
      const parent = new Map<string, BalanceTimeline>();
      for (const [subId, timeline] of Object.entries(subs)) {
        parent.set(subId, {
          recordedAtKeys: Float64Column.fromBase64(timeline.t),
          quota: Float64Column.fromBase64(timeline.q),
          used: Float64Column.fromBase64(timeline.u),
        });
      }
      state.set(parentId, parent);
    }
    return state;
  },
};

export interface BalanceAsOf extends SubAccountBalances {
  readonly asOf: string;
  /** False when the sub-account was created after `asOf`: every balance is then 0. */
  readonly existed: boolean;
}

/** The balance after the last credit event recorded at or before `asOf`. */
export function balanceAsOf(timeline: BalanceTimeline, asOf: Date): BalanceAsOf {
  const index = timeline.recordedAtKeys.upperBound(asOf.getTime()) - 1;
  if (index < 0) return { asOf: asOf.toISOString(), existed: false, quota: 0, used: 0, remaining: 0 };
  const quota = timeline.quota.at(index);
  const used = timeline.used.at(index);
  return { asOf: asOf.toISOString(), existed: true, quota, used, remaining: quota - used };
}

export class BalanceAsOfService {
  constructor(
    private readonly runner: ProjectionRunner,
    private readonly options: ProjectionReadOptions,
  ) {}

  /** undefined when the projection knows no such sub-account (the HTTP layer answers 404). */
  async balanceAsOf(parentId: string, subAccountId: string, asOf: Date): Promise<BalanceAsOf | undefined> {
    const state = await this.runner.read<BalanceAsOfState>(
      balanceAsOfProjection.name,
      this.options.readTimeoutMs,
    );
    const timeline = state.get(parentId)?.get(subAccountId);
    return timeline ? balanceAsOf(timeline, asOf) : undefined;
  }
}
