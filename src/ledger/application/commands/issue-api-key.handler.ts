import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { mintApiKey } from '../../../auth/api-key-secret';
import { ApiKeyRegistry } from '../../../auth/api-key.registry';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

/** A key as issued: its secret is in this answer and nowhere else. */
export type IssuedApiKey = {
  readonly id: string;
  readonly secret: string;
  readonly prefix: string;
  readonly subAccountId: string | null;
  readonly issuedAt: string;
};

/** Issue a key for the parent (`subAccountId: null`) or one of its sub-accounts. */
export class IssueApiKeyCommand extends LedgerCommandMessage<{ subAccountId: string | null }, IssuedApiKey> {}

/**
 * Mints the key, records it (only the hash of its secret), and remembers it in auth's registry so its
 * first request needs no lookup.
 */
@CommandHandler(IssueApiKeyCommand)
export class IssueApiKeyHandler implements ICommandHandler<IssueApiKeyCommand> {
  constructor(
    private readonly ledger: LedgerService,
    private readonly keys: ApiKeyRegistry,
  ) {}

  async execute({ context, parentId, data }: IssueApiKeyCommand): Promise<Executed<IssuedApiKey>> {
    const { subAccountId } = data;
    const key = mintApiKey(parentId);
    const executed = await this.ledger.execute(context, parentId, {
      type: 'IssueApiKey',
      data: { keyId: key.keyId, prefix: key.prefix, secretHash: key.secretHash, subAccountId },
      metadata: { now: this.ledger.now() },
    });
    this.keys.remember({ keyId: key.keyId, parentId, subAccountId, secretHash: key.secretHash });
    return {
      ...executed,
      result: {
        id: key.keyId,
        secret: key.secret,
        prefix: key.prefix,
        subAccountId,
        issuedAt: executed.now.toISOString(),
      },
    };
  }
}
