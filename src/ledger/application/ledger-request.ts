import {
  decideWithResult,
  ledgerDecider,
  usageKeySnapshotJournal,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerResult,
  type LedgerState,
} from '../domain';
import type { Decider } from '../../event-store/command-processing';
import { UnauthorizedError } from '../../auth/auth.errors';

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

export type LedgerRequest =
  | { readonly key: KeyCheck | null; readonly command: LedgerCommand }
  | { readonly key: KeyCheck | null; readonly read: LedgerRead<unknown> };

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
 * The ledger decider as the command processor runs it for the HTTP API: the key check first, then
 * either the domain's decision or a read. Reads decide no event, so they cost no append; they go
 * through the same per-parent queue, which is what makes a read after a write always see it.
 */
export const ledgerRequestDecider: Decider<LedgerState, LedgerRequest, LedgerEvent, unknown> = {
  initialState: ledgerDecider.initialState,
  evolve: ledgerDecider.evolve,
  decide(request, state) {
    if (request.key) requireActiveKey(state, request.key);
    if ('read' in request) return { events: [], result: request.read(state) };
    return decideWithResult(request.command, state) as { events: LedgerEvent[]; result: LedgerResult };
  },
  toSnapshot: ledgerDecider.toSnapshot,
  fromSnapshot: ledgerDecider.fromSnapshot,
  snapshotVersion: ledgerDecider.snapshotVersion,
  // Reads and key checks need no idempotency keys: a cold balance is answered before they load.
  snapshotJournal: usageKeySnapshotJournal(
    (request: LedgerRequest) => 'read' in request || request.command.type !== 'RecordUsage',
  ),
};
