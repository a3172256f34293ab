import {
  decide,
  decideReversal,
  decideUsage,
  ledgerDecider,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerState,
  type RecordUsage,
  type ReversalResult,
  type ReverseUsage,
  type ReversibleUsageLookup,
  type UsageKeyLookup,
  type UsageResult,
} from '../domain';
import type { Decider, Decision } from '../../event-store/command-processing';
import { UnauthorizedError } from '../../auth/auth.errors';
import {
  ReversibleUsageIndexUnavailableError,
  UsageKeyIndexUnavailableError,
} from './usage-key-index.errors';

/**
 * The key a request was authenticated with, checked again inside the decision. The guard verified
 * the secret against the key's immutable hash; whether the key is still active (not revoked, its
 * sub-account not closed) can only be known from the parent's current state, and checking it in the
 * same decision as the command means a revocation appended before this request is always seen, at no
 * extra round trip.
 */
export type KeyCheck = { readonly keyId: string; readonly subAccountId: string | null };

/** A read answered from the parent's current state, in the stream's queue like any command. */
export type LedgerRead<Result> = (state: LedgerState) => Result;

/**
 * One entry of a parent's queue: a command of the domain or a read, with the key to check first.
 *
 * It carries its own decision, typed by what it answers, and keeps the answer of the decision the
 * processor settled it with: one processor queues requests of every answer type, so the processor's
 * own result is `void` and the caller reads the answer here, typed, with nothing cast back. A request
 * decided again (after a lost race, or pushed to the next batch by the byte cap) keeps the latest
 * answer, which is the one its outcome settles with.
 */
export class LedgerRequest<Result> {
  private answered: { readonly result: Result } | undefined;
  /** Usage only: what the key index answered for the batch (`prepareUsageKeys`), or why it did not. */
  usageKeys: UsageKeyLookup | { readonly failed: unknown } | undefined;
  /** Reversals only: what the reversible-usage index answered (`prepareReversals`), or why it did not. */
  reversibleUsage: ReversibleUsageLookup | { readonly failed: unknown } | undefined;

  private constructor(
    readonly key: KeyCheck | null,
    /** The domain command, or null for a read: the snapshot journal asks which commands need keys. */
    readonly command: LedgerCommand | null,
    private readonly decision: (state: LedgerState) => Decision<LedgerEvent, Result>,
  ) {}

  static command(key: KeyCheck | null, command: Exclude<LedgerCommand, RecordUsage>): LedgerRequest<null> {
    return new LedgerRequest(key, command, (state) => ({ events: decide(command, state), result: null }));
  }

  /** Rule 5 answers usage even when nothing is recorded (an idempotent repeat). */
  static usage(key: KeyCheck | null, command: RecordUsage): LedgerRequest<UsageResult> {
    const request: LedgerRequest<UsageResult> = new LedgerRequest(key, command, (state) =>
      decideUsage(command, state, request.lookupFor(state)),
    );
    return request;
  }

  /** A usage reversal: decided with the reversible-usage index's lookup once memory relies on it. */
  static reversal(key: KeyCheck | null, command: ReverseUsage): LedgerRequest<ReversalResult> {
    const request: LedgerRequest<ReversalResult> = new LedgerRequest(key, command, (state) =>
      decideReversal(command, state, request.reversibleLookupFor(state)),
    );
    return request;
  }

  /** A command whose decision answers more than its events (a purchase's lot, a reversal's result). */
  static decided<Result>(
    key: KeyCheck | null,
    command: Exclude<LedgerCommand, RecordUsage>,
    decision: (state: LedgerState) => Decision<LedgerEvent, Result>,
  ): LedgerRequest<Result> {
    return new LedgerRequest(key, command, decision);
  }

  static read<Result>(key: KeyCheck | null, read: LedgerRead<Result>): LedgerRequest<Result> {
    return new LedgerRequest(key, null, (state) => ({ events: [], result: read(state) }));
  }

  /** The key check, then the decision; its answer is kept for `answer()`. */
  decide(state: LedgerState): Decision<LedgerEvent, void> {
    if (this.key) requireActiveKey(state, this.key);
    const { events, result } = this.decision(state);
    this.answered = { result };
    return { events, result: undefined };
  }

  /**
   * The key index's answer to decide with; none needed while memory holds every live key. Refused
   * (503) when the index could not be read and memory has left keys to it.
   */
  private lookupFor(state: LedgerState): UsageKeyLookup | undefined {
    const found = this.usageKeys;
    if (found === undefined || !('failed' in found)) return found;
    if (state.usageKeys.indexedThrough < 0) return undefined;
    throw new UsageKeyIndexUnavailableError(found.failed);
  }

  /**
   * The reversible-usage index's answer to decide with; none needed while memory holds every
   * reversible usage. Refused (503) when the index could not be read and memory has left usage to it.
   */
  private reversibleLookupFor(state: LedgerState): ReversibleUsageLookup | undefined {
    const found = this.reversibleUsage;
    if (found === undefined || !('failed' in found)) return found;
    if (state.reversible.indexedThrough < 0) return undefined;
    throw new ReversibleUsageIndexUnavailableError(found.failed);
  }

  /** The answer of the decision the processor settled this request with. */
  answer(): Result {
    if (!this.answered) throw new Error('a ledger request was answered before it was decided');
    return this.answered.result;
  }
}

/** Throws when the key is no longer usable against this parent's state. */
export function requireActiveKey(state: LedgerState, key: KeyCheck): void {
  const stored = state.apiKeys.get(key.keyId);
  if (!stored || stored.status !== 'active' || stored.subAccountId !== key.subAccountId) {
    throw new UnauthorizedError('The API key is not valid or has been revoked.');
  }
  if (stored.subAccountId !== null && state.subAccounts.get(stored.subAccountId)?.status !== 'active') {
    throw new UnauthorizedError('The API key belongs to a closed sub-account.');
  }
}

/**
 * The ledger decider as the command processor runs it for the HTTP API: each request decides itself
 * (the key check first, then the domain's decision or a read). Reads decide no event, so they cost no
 * append; they go through the same per-parent queue, which is what makes a read after a write always
 * see it.
 */
export const ledgerRequestDecider: Decider<LedgerState, LedgerRequest<unknown>, LedgerEvent, void> = {
  initialState: ledgerDecider.initialState,
  evolve: ledgerDecider.evolve,
  decide: (request, state) => request.decide(state),
  toSnapshot: ledgerDecider.toSnapshot,
  fromSnapshot: ledgerDecider.fromSnapshot,
  snapshotVersion: ledgerDecider.snapshotVersion,
};
