import { Injectable } from '@nestjs/common';
import type { ApiKeyDirectory, StoredApiKey } from '../../auth/api-key-directory';
import { UnauthorizedError } from '../../auth/auth.errors';
import { isDomainError } from '../domain';
import { LedgerService } from './ledger.service';

/**
 * Auth's key directory, answered from the parent's ledger state (the command processor's cache, or
 * snapshot + tail after a restart), which holds every key of that parent: nothing to rebuild at boot
 * and nothing to share between instances. Whether a key is active is asked inside the parent's queue,
 * so a revocation counts from the next request on.
 */
@Injectable()
export class LedgerKeyDirectory implements ApiKeyDirectory {
  constructor(private readonly ledger: LedgerService) {}

  async find(parentId: string, keyId: string): Promise<StoredApiKey | null> {
    try {
      const { result: stored } = await this.ledger.readAs(null, parentId, (state) =>
        state.apiKeys.get(keyId),
      );
      return stored
        ? { keyId: stored.keyId, subAccountId: stored.subAccountId, secretHash: stored.secretHash }
        : null;
    } catch (error) {
      // A parent that does not exist knows no keys.
      if (isDomainError(error) && error.code === 'not_found') return null;
      throw error;
    }
  }

  async isActive(key: { parentId: string; keyId: string; subAccountId: string | null }): Promise<boolean> {
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
}
