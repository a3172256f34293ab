import type { PreparedBatch } from '../../event-store/command-processing';
import {
  LEDGER_CATEGORY,
  forgetIndexedReversibleUsage,
  forgetIndexedUsageKeys,
  type LedgerState,
  type UsageKeyLookup,
} from '../domain';
import type { LedgerRequest } from './ledger-request';
export { UsageKeyIndexUnavailableError } from './usage-key-index.errors';

/** One idempotency key of a usage record: keys are per sub-account (rule 5). */
export type UsageKeyRef = { readonly subAccountId: string; readonly idempotencyKey: string };

/**
 * The idempotency-key index as the write side asks it (SPEC §9): a read model in PostgreSQL, kept by
 * the `usage-keys` projection, holding every usage key of the last 35 days with its receipt. One call
 * per batch: the receipts it holds for these keys of the parent and, from the same committed state,
 * the revision of the parent's stream it has indexed through.
 */
export interface UsageKeyIndex {
  lookup(parentId: string, keys: readonly UsageKeyRef[]): Promise<UsageKeyIndexAnswer>;
}

/**
 * A lookup's answer; `reversibleThrough`, when the reversible-usage index sits beside the keys: how far
 * it has indexed the parent's stream, read in the same statement.
 */
export type UsageKeyIndexAnswer = UsageKeyLookup & { readonly reversibleThrough?: number };

/** Provided by the read side's `usage-keys` slice; absent, the ledger keeps every live key in memory. */
export const USAGE_KEY_INDEX = Symbol('UsageKeyIndex');

/**
 * The command processor's `prepare` for the ledger: before a batch with usage is decided, one lookup
 * of the batch's keys in the index; the state then drops from memory the receipts the index has
 * committed, and each usage request decides with the lookup. A failed lookup fails only the usage
 * requests (and only if memory no longer holds every key): reads and other commands go on.
 * A batch prepared ahead of its turn is prepared again just before it is decided: a request whose
 * answer still covers everything memory has dropped keeps it (`stillGood`), so the lookup is not
 * repeated; otherwise it is.
 * `forgetReversible`: the reversible-usage index is used too, so memory drops the reversible usage it
 * has committed as well (`prepareLedgerBatch`).
 */
export function prepareUsageKeys(
  index: UsageKeyIndex,
  forgetReversible = false,
): (batch: PreparedBatch<LedgerState, LedgerRequest<unknown>>) => Promise<void> {
  return async ({ streamName, state, commands }) => {
    const usage: LedgerRequest<unknown>[] = [];
    const keys: UsageKeyRef[] = [];
    for (const request of commands) {
      const command = request.command;
      if (command?.type !== 'RecordUsage') continue;
      usage.push(request);
      const { subAccountId, idempotencyKey } = command.data;
      // Malformed values are the decision's to refuse; they cannot be in the index.
      if (typeof subAccountId === 'string' && typeof idempotencyKey === 'string') {
        keys.push({ subAccountId, idempotencyKey });
      }
    }
    if (usage.length === 0) return;
    // Prepared ahead (while the batch before appended) and still good: no second lookup.
    if (usage.every((request) => stillGood(request.usageKeys, state.usageKeys.indexedThrough))) return;
    let lookup: UsageKeyIndexAnswer;
    try {
      lookup = await index.lookup(streamName.slice(LEDGER_CATEGORY.length + 1), keys);
    } catch (error) {
      for (const request of usage) request.usageKeys = { failed: error };
      return;
    }
    if (lookup.indexedThrough < state.usageKeys.indexedThrough) {
      // Memory dropped keys that this index does not hold (yet): a new or restored database, or a
      // new version of the index still rebuilding. Usage waits until it has caught up.
      const behind = new Error(
        `it has indexed ${streamName} through revision ${lookup.indexedThrough}, ` +
          `short of the ${state.usageKeys.indexedThrough} this ledger relies on; it is catching up`,
      );
      for (const request of usage) request.usageKeys = { failed: behind };
      return;
    }
    forgetIndexedUsageKeys(state, lookup.indexedThrough);
    if (forgetReversible && lookup.reversibleThrough !== undefined) {
      forgetIndexedReversibleUsage(state, lookup.reversibleThrough);
    }
    for (const request of usage) request.usageKeys = lookup;
  };
}

/**
 * An index answer decides correctly while it reaches at least as far as memory has dropped: memory
 * holds every key above `indexedThrough`, and the answer every key up to its own head. Once memory
 * has dropped further (a later lookup, or a reload from a newer snapshot), the keys in between would
 * be in neither, and the lookup is made again.
 */
export function stillGood(
  answer: { readonly indexedThrough: number } | { readonly failed: unknown } | undefined,
  droppedThrough: number,
): boolean {
  return answer !== undefined && !('failed' in answer) && answer.indexedThrough >= droppedThrough;
}
