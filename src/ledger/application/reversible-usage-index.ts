import type { PreparedBatch } from '../../event-store/command-processing';
import {
  LEDGER_CATEGORY,
  forgetIndexedReversibleUsage,
  type LedgerState,
  type ReversibleUsageLookup,
} from '../domain';
import type { LedgerRequest } from './ledger-request';
import { prepareUsageKeys, stillGood, type UsageKeyIndex } from './usage-key-index';
export { ReversibleUsageIndexUnavailableError } from './usage-key-index.errors';

/** One reversal's usage and its idempotency key (keys are per usage record, SPEC §10). */
export type ReversalRef = { readonly usageId: string; readonly idempotencyKey: string };

/**
 * The reversible-usage index as the write side asks it: a read model in PostgreSQL, kept by the
 * `reversible-usage` projection, holding every usage record of the last 35 days with the credits
 * reversed so far, and every reversal with its key. One call per batch with reversals: the usage and
 * keys it holds for them and, from the same committed state, the revision of the parent's stream it has
 * indexed through.
 */
export interface ReversibleUsageIndex {
  lookupReversible(parentId: string, refs: readonly ReversalRef[]): Promise<ReversibleUsageLookup>;
}

/** Provided by the read side's `usage-keys` slice; absent, the ledger keeps 35 days of usage in memory. */
export const REVERSIBLE_USAGE_INDEX = Symbol('ReversibleUsageIndex');

/**
 * The command processor's `prepare` for the ledger: the key index's lookup for a batch with usage, then
 * the reversible-usage index's for a batch with reversals. With both indexes the key lookup also names
 * how far reversible usage is indexed, so memory drops it on the usage path too, where most batches are.
 */
export function prepareLedgerBatch(
  keys: UsageKeyIndex | undefined,
  reversible: ReversibleUsageIndex | undefined,
): ((batch: PreparedBatch<LedgerState, LedgerRequest<unknown>>) => Promise<void>) | undefined {
  const steps = [
    ...(keys ? [prepareUsageKeys(keys, reversible !== undefined)] : []),
    ...(reversible ? [prepareReversals(reversible)] : []),
  ];
  if (steps.length === 0) return undefined;
  return async (batch) => {
    for (const step of steps) await step(batch);
  };
}

/**
 * Before a batch with reversals is decided, one lookup of their usage and keys in the index; the state
 * then drops from memory the usage and reversals the index has committed, and each reversal decides
 * with the lookup. A failed lookup fails only the reversals (and only if memory no longer holds every
 * reversible usage).
 */
export function prepareReversals(
  index: ReversibleUsageIndex,
): (batch: PreparedBatch<LedgerState, LedgerRequest<unknown>>) => Promise<void> {
  return async ({ streamName, state, commands }) => {
    const reversals: LedgerRequest<unknown>[] = [];
    const refs: ReversalRef[] = [];
    for (const request of commands) {
      const command = request.command;
      if (command?.type !== 'ReverseUsage') continue;
      reversals.push(request);
      const { usageId, idempotencyKey } = command.data;
      // Malformed values are the decision's to refuse; they cannot be in the index.
      if (typeof usageId === 'string' && typeof idempotencyKey === 'string') {
        refs.push({ usageId, idempotencyKey });
      }
    }
    if (reversals.length === 0) return;
    // Prepared ahead and still good (`stillGood` in usage-key-index.ts): no second lookup.
    if (reversals.every((request) => stillGood(request.reversibleUsage, state.reversible.indexedThrough))) {
      return;
    }
    let lookup: ReversibleUsageLookup;
    try {
      lookup = await index.lookupReversible(streamName.slice(LEDGER_CATEGORY.length + 1), refs);
    } catch (error) {
      for (const request of reversals) request.reversibleUsage = { failed: error };
      return;
    }
    if (lookup.indexedThrough < state.reversible.indexedThrough) {
      const behind = new Error(
        `it has indexed ${streamName} through revision ${lookup.indexedThrough}, ` +
          `short of the ${state.reversible.indexedThrough} this ledger relies on; it is catching up`,
      );
      for (const request of reversals) request.reversibleUsage = { failed: behind };
      return;
    }
    forgetIndexedReversibleUsage(state, lookup.indexedThrough);
    for (const request of reversals) request.reversibleUsage = lookup;
  };
}
