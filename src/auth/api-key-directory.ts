/** What never changes about a key once issued, as the place that records keys holds it. */
export type StoredApiKey = {
  readonly keyId: string;
  readonly subAccountId: string | null;
  readonly secretHash: string;
};

/**
 * Where the keys of a parent are recorded and whether each still works. Auth asks; it does not
 * know the answer's home: the ledger provides it (keys are ledger events, and a key's status is
 * checked inside the parent's queue), so auth imports nothing of the ledger and the ledger, which
 * needs auth's principals and errors, imports auth.
 */
export interface ApiKeyDirectory {
  /** The key of this parent with this id, active or not; null if there is no such key or parent. */
  find(parentId: string, keyId: string): Promise<StoredApiKey | null>;
  /** Whether the key still works: not revoked, its sub-account not closed. */
  isActive(key: {
    readonly parentId: string;
    readonly keyId: string;
    readonly subAccountId: string | null;
  }): Promise<boolean>;
}

/** Injection token of the ApiKeyDirectory, given to `AuthModule.withKeyDirectory` by its provider's module. */
export const API_KEY_DIRECTORY = Symbol('API_KEY_DIRECTORY');
