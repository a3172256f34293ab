import { Inject, Injectable } from '@nestjs/common';
import { API_KEY_DIRECTORY, type ApiKeyDirectory } from './api-key-directory';
import { hashMatches, type ParsedSecret } from './api-key-secret';

/** What never changes about a key once issued: whose it is and the hash of its secret. */
export type KnownApiKey = {
  readonly keyId: string;
  readonly parentId: string;
  readonly subAccountId: string | null;
  readonly secretHash: string;
};

const MAX_CACHED_KEYS = 100_000;

/**
 * Finds the key a secret claims to be. The secret names its parent, and the key directory (the
 * ledger's, src/ledger/application/ledger-key-directory.ts) holds every key of that parent. The
 * immutable facts of keys that authenticated are cached; whether a key is still active is never
 * cached (`isActive` asks the directory each time), so a revocation counts from the next request on.
 */
@Injectable()
export class ApiKeyRegistry {
  private readonly known = new Map<string, KnownApiKey>();
  private readonly lookups = new Map<string, Promise<KnownApiKey | null>>();

  constructor(@Inject(API_KEY_DIRECTORY) private readonly directory: ApiKeyDirectory) {}

  /** The key, if the secret is one of its parent's keys (active or not); null otherwise. */
  async verify(claims: ParsedSecret, presentedHash: Buffer): Promise<KnownApiKey | null> {
    const key = this.known.get(claims.keyId) ?? (await this.lookUp(claims));
    if (!key || key.parentId !== claims.parentId) return null;
    return hashMatches(presentedHash, key.secretHash) ? key : null;
  }

  /** Whether the key still works: not revoked, its sub-account not closed. */
  isActive(key: KnownApiKey): Promise<boolean> {
    return this.directory.isActive(key);
  }

  private lookUp(claims: ParsedSecret): Promise<KnownApiKey | null> {
    const pending = this.lookups.get(claims.keyId);
    if (pending) return pending;
    const lookup = this.directory
      .find(claims.parentId, claims.keyId)
      .then((stored) => {
        if (!stored) return null;
        const key: KnownApiKey = { ...stored, parentId: claims.parentId };
        this.remember(key);
        return key;
      })
      .finally(() => this.lookups.delete(claims.keyId));
    this.lookups.set(claims.keyId, lookup);
    return lookup;
  }

  /** Called when a key is issued, so its first request needs no lookup. */
  remember(key: KnownApiKey): void {
    if (this.known.size >= MAX_CACHED_KEYS) this.known.delete(this.known.keys().next().value!);
    this.known.set(key.keyId, key);
  }
}
