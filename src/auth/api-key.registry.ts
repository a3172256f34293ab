import { Injectable } from '@nestjs/common';
import { LedgerService } from '../ledger/application/ledger.service';
import { hashMatches, type ParsedSecret } from './api-key-secret';
import { UnauthorizedError } from './auth.errors';

/** What never changes about a key once issued: whose it is and the hash of its secret. */
export type KnownApiKey = {
  readonly keyId: string;
  readonly parentId: string;
  readonly subAccountId: string | null;
  readonly secretHash: string;
};

const MAX_CACHED_KEYS = 100_000;

/**
 * Finds the key a secret claims to be. The secret names its parent, and the parent's ledger state (the
 * command processor's cache, or snapshot + tail after a restart) holds every key of that parent, so
 * there is nothing to rebuild at boot and nothing to share between instances. The immutable facts of
 * keys that authenticated are cached; whether a key is still active is never cached (see
 * LedgerService and `isActive`), so a revocation counts from the next request on.
 */
@Injectable()
export class ApiKeyRegistry {
  private readonly known = new Map<string, KnownApiKey>();
  private readonly lookups = new Map<string, Promise<KnownApiKey | null>>();

  constructor(private readonly ledger: LedgerService) {}

  /** The key, if the secret is one of its parent's keys (active or not); null otherwise. */
  async verify(claims: ParsedSecret, presentedHash: Buffer): Promise<KnownApiKey | null> {
    const key = this.known.get(claims.keyId) ?? (await this.lookUp(claims));
    if (!key || key.parentId !== claims.parentId) return null;
    return hashMatches(presentedHash, key.secretHash) ? key : null;
  }

  /** Whether the key still works: not revoked, its sub-account not closed. */
  async isActive(key: KnownApiKey): Promise<boolean> {
    try {
      await this.ledger.readAs(
        { keyId: key.keyId, subAccountId: key.subAccountId },
        key.parentId,
        () => null,
      );
      return true;
    } catch (error) {
      if (error instanceof UnauthorizedError) return false;
      throw error;
    }
  }

  private lookUp(claims: ParsedSecret): Promise<KnownApiKey | null> {
    const pending = this.lookups.get(claims.keyId);
    if (pending) return pending;
    const lookup = this.ledger
      .readAs(null, claims.parentId, (state) => state.apiKeys.get(claims.keyId))
      .then(
        ({ result: stored }) => {
          if (!stored) return null;
          const key: KnownApiKey = {
            keyId: stored.keyId,
            parentId: claims.parentId,
            subAccountId: stored.subAccountId,
            secretHash: stored.secretHash,
          };
          this.remember(key);
          return key;
        },
        // A parent that does not exist knows no keys.
        (error: unknown) => {
          if ((error as { code?: unknown }).code === 'not_found') return null;
          throw error;
        },
      )
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
