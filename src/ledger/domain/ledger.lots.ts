import type { IsoInstant, LotKind, LotPortion } from './ledger.events';

/*
 * Credit lots (SPEC §10): every credit of the pool and of every quota belongs to one lot, and each
 * movement takes whole credits from lots in one deterministic order. Pure helpers over the state's
 * figures; the decider and evolve use the same ones, so an event without portions (recorded before
 * lots) folds exactly as it would be decided now.
 */

export const DEFAULT_LOT_PRIORITY = 50;
export const MAX_LOT_PRIORITY = 100;

export type LotState = {
  lotId: string;
  kind: LotKind;
  credits: number;
  expiresAt: IsoInstant | null;
  /** Infinity without expiry, so "none last" is plain numeric order. */
  expiresAtMs: number;
  priority: number;
  purchasedAt: IsoInstant;
  purchasedAtMs: number;
  reference: string | null;
  /** What is left of it in the pool. */
  pool: number;
  /** Unused credits of it in quotas (Σ of the sub-accounts' `unused` for it). */
  inQuotas: number;
  used: number;
  expired: number;
  /** A CreditsExpired was recorded for it (with 0 credits if nothing was left). */
  lapsed: boolean;
};

/** A sub-account's share of one lot. */
export type LotHolding = { unused: number; used: number };

/**
 * The burn order, total: priority ascending, then expiresAt ascending (none last), then purchase
 * time, then lotId (code-unit order), so a replay always burns the same way.
 */
export function compareLots(a: LotState, b: LotState): number {
  return (
    a.priority - b.priority ||
    (a.expiresAtMs === b.expiresAtMs ? 0 : a.expiresAtMs < b.expiresAtMs ? -1 : 1) ||
    a.purchasedAtMs - b.purchasedAtMs ||
    (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0)
  );
}

/** Inserts `lot` where the burn order puts it (lots are few; this keeps reads allocation-free). */
export function insertInBurnOrder(order: LotState[], lot: LotState): void {
  let index = order.length;
  while (index > 0 && compareLots(order[index - 1], lot) > 0) index--;
  order.splice(index, 0, lot);
}

/**
 * Takes `credits` from `lots` in the order given, `amountOf` each, skipping those `usable` refuses.
 * Returns the portions, or null when the usable lots hold fewer credits.
 */
export function takePortions(
  lots: readonly LotState[],
  credits: number,
  amountOf: (lot: LotState) => number,
  usable: (lot: LotState) => boolean = () => true,
): LotPortion[] | null {
  const portions: LotPortion[] = [];
  let left = credits;
  for (const lot of lots) {
    if (left === 0) break;
    if (!usable(lot)) continue;
    const take = Math.min(left, amountOf(lot));
    if (take <= 0) continue;
    portions.push({ lotId: lot.lotId, credits: take });
    left -= take;
  }
  return left === 0 ? portions : null;
}

/** Σ `amountOf` over the usable lots. */
export function sumOf(
  lots: readonly LotState[],
  amountOf: (lot: LotState) => number,
  usable: (lot: LotState) => boolean = () => true,
): number {
  let total = 0;
  for (const lot of lots) if (usable(lot)) total += amountOf(lot);
  return total;
}

export function reversed<T>(items: readonly T[]): T[] {
  return [...items].reverse();
}

/** Unused credits of a sub-account in `lot`. */
export function unusedIn(holdings: ReadonlyMap<string, LotHolding>, lot: LotState): number {
  return holdings.get(lot.lotId)?.unused ?? 0;
}

export function usedIn(holdings: ReadonlyMap<string, LotHolding>, lot: LotState): number {
  return holdings.get(lot.lotId)?.used ?? 0;
}

/** The id a lot bought before lots existed is read with: its CreditsPurchased's revision. */
export function legacyLotId(revision: number): string {
  return `lot-r${revision}`;
}
