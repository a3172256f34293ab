import type { StoredEvent } from './ledger-fixtures';

/*
 * An auditor's independent recount of a parent's ledger stream: folds the credit movements with
 * nothing but addition, checks every rule of SPEC §2 that a history can break after each event, and
 * checks that each event's `balancesAfter` states the recount. Written from docs/events.md, not from
 * the domain code, so a shared mistake cannot hide.
 */

export interface SubAccountCount {
  quota: number;
  used: number;
  closed: boolean;
  /** Idempotency keys recorded for it. */
  readonly keys: Set<string>;
}

export interface LedgerCount {
  purchased: number;
  allocated: number;
  used: number;
  /** Credits lapsed with their lots (SPEC §10), from the pool and from quotas. */
  expired: number;
  readonly subAccounts: Map<string, SubAccountCount>;
}

/** The balances a reader may be shown once the stream's history up to `revision` is folded. */
export interface FiguresAt {
  readonly revision: bigint;
  readonly pool: { purchased: number; allocated: number; available: number; used: number; expired: number };
  readonly subAccounts: ReadonlyMap<string, { quota: number; used: number; closed: boolean }>;
}

export interface Recount {
  readonly count: LedgerCount;
  /** Every broken rule or misstated balance, with the event's revision; empty when the history is sound. */
  readonly violations: string[];
  /** The figures after each event, in stream order: what a read answered at that revision must show. */
  readonly timeline: FiguresAt[];
}

const MOVEMENTS = new Set([
  'QuotaAllocated',
  'CreditsReturned',
  'UsageRecorded',
  'SubAccountClosed',
  'UsageReversed',
]);

export function recount(events: readonly StoredEvent[]): Recount {
  const count: LedgerCount = { purchased: 0, allocated: 0, used: 0, expired: 0, subAccounts: new Map() };
  const violations: string[] = [];
  const timeline: FiguresAt[] = [];
  for (const event of events) {
    const at = `#${event.revision} ${event.type}`;
    const fail = (message: string) => violations.push(`${at}: ${message}`);
    const data = event.data;
    const sub = typeof data?.subAccountId === 'string' ? count.subAccounts.get(data.subAccountId) : undefined;
    if (MOVEMENTS.has(event.type)) {
      if (!sub) {
        fail(`unknown sub-account ${data?.subAccountId}`);
        continue;
      }
      if (sub.closed) fail(`a movement on closed sub-account ${data.subAccountId}`);
      if (
        !Number.isSafeInteger(data.credits ?? data.returnedCredits) ||
        (data.credits ?? data.returnedCredits) < 0
      ) {
        fail(`credits ${data.credits ?? data.returnedCredits} are not an integer ≥ 0`);
      }
    }
    switch (event.type) {
      case 'CreditsPurchased':
        count.purchased += data.credits;
        break;
      case 'SubAccountCreated':
        if (count.subAccounts.has(data.subAccountId)) fail(`sub-account ${data.subAccountId} created twice`);
        count.subAccounts.set(data.subAccountId, { quota: 0, used: 0, closed: false, keys: new Set() });
        break;
      case 'QuotaAllocated':
        if (data.credits < 1) fail('allocated less than 1 credit');
        sub!.quota += data.credits;
        count.allocated += data.credits;
        break;
      case 'CreditsReturned':
        if (data.credits < 1) fail('returned less than 1 credit');
        sub!.quota -= data.credits;
        count.allocated -= data.credits;
        break;
      case 'UsageRecorded':
        if (sub!.keys.has(data.idempotencyKey)) fail(`idempotency key ${data.idempotencyKey} recorded twice`);
        sub!.keys.add(data.idempotencyKey);
        sub!.used += data.credits;
        count.used += data.credits;
        break;
      case 'SubAccountClosed': {
        const unused = sub!.quota - sub!.used;
        if (data.returnedCredits !== unused)
          fail(`returned ${data.returnedCredits} of ${unused} unused credits`);
        sub!.quota -= unused;
        count.allocated -= unused;
        sub!.closed = true;
        break;
      }
      case 'UsageReversed':
        sub!.used -= data.credits;
        count.used -= data.credits;
        break;
      case 'CreditsExpired': {
        for (const from of data.fromSubAccounts) {
          const holder = count.subAccounts.get(from.subAccountId);
          if (!holder) {
            fail(`expired credits of unknown sub-account ${from.subAccountId}`);
            continue;
          }
          holder.quota -= from.credits;
          count.allocated -= from.credits;
          if (holder.quota < holder.used) fail(`${from.subAccountId}: used credits expired`);
          const after = { quota: holder.quota, used: holder.used, remaining: holder.quota - holder.used };
          if (!sameFigures(from.balancesAfter, after)) {
            fail(`fromSubAccounts ${JSON.stringify(from.balancesAfter)} ≠ recount ${JSON.stringify(after)}`);
          }
        }
        count.expired += data.credits;
        break;
      }
    }
    if (event.type === 'CreditsPurchased' || event.type === 'CreditsExpired' || MOVEMENTS.has(event.type)) {
      checkRules(count, fail);
      checkBalancesAfter(count, sub, data?.balancesAfter, fail);
    }
    timeline.push(figuresOf(event.revision, count));
  }
  return { count, violations, timeline };
}

function figuresOf(revision: bigint, count: LedgerCount): FiguresAt {
  const subAccounts = new Map<string, { quota: number; used: number; closed: boolean }>();
  for (const [id, { quota, used, closed }] of count.subAccounts) subAccounts.set(id, { quota, used, closed });
  const { purchased, allocated, used, expired } = count;
  return {
    revision,
    pool: { purchased, allocated, available: purchased - allocated - expired, used, expired },
    subAccounts,
  };
}

function checkRules(count: LedgerCount, fail: (message: string) => void): void {
  const available = count.purchased - count.allocated - count.expired;
  if (available < 0) fail(`rule 1: pool available ${available} < 0`);
  let quotas = 0;
  for (const [id, sub] of count.subAccounts) {
    quotas += sub.quota;
    if (sub.used > sub.quota) fail(`rule 2: ${id} used ${sub.used} > quota ${sub.quota}`);
    if (sub.quota < 0) fail(`${id} quota ${sub.quota} < 0`);
    if (sub.closed && sub.quota !== sub.used)
      fail(`rule 10: closed ${id} keeps ${sub.quota - sub.used} unused`);
  }
  if (quotas !== count.allocated) fail(`pool allocated ${count.allocated} ≠ Σ quota ${quotas}`);
}

function checkBalancesAfter(
  count: LedgerCount,
  sub: SubAccountCount | undefined,
  stated: any,
  fail: (message: string) => void,
): void {
  const pool = {
    purchased: count.purchased,
    allocated: count.allocated,
    available: count.purchased - count.allocated - count.expired,
    used: count.used,
    expired: count.expired,
  };
  // Events recorded before lots state no `expired`: it was 0 then.
  const statedPool = stated?.pool && { expired: 0, ...stated.pool };
  if (!sameFigures(statedPool, pool)) {
    fail(`balancesAfter.pool ${JSON.stringify(stated?.pool)} ≠ recount ${JSON.stringify(pool)}`);
  }
  if (!sub) return;
  const subAccount = { quota: sub.quota, used: sub.used, remaining: sub.quota - sub.used };
  if (!sameFigures(stated?.subAccount, subAccount)) {
    fail(
      `balancesAfter.subAccount ${JSON.stringify(stated?.subAccount)} ≠ recount ${JSON.stringify(subAccount)}`,
    );
  }
}

/** The same figures, whatever the order of the members. */
function sameFigures(stated: any, expected: Record<string, number>): boolean {
  if (typeof stated !== 'object' || stated === null) return false;
  const keys = Object.keys(expected);
  return Object.keys(stated).length === keys.length && keys.every((key) => stated[key] === expected[key]);
}

/** Events grouped by the request that recorded them (`metadata.requestId`, SPEC §3). */
export function eventsByRequest(events: readonly StoredEvent[]): Map<string, StoredEvent[]> {
  const byRequest = new Map<string, StoredEvent[]>();
  for (const event of events) {
    const requestId = String(event.metadata?.requestId);
    const group = byRequest.get(requestId) ?? [];
    group.push(event);
    byRequest.set(requestId, group);
  }
  return byRequest;
}
