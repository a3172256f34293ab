import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { RevokeApiKey } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class RevokeApiKeyCommand extends LedgerCommandMessage<RevokeApiKey['data'], null> {}

@CommandHandler(RevokeApiKeyCommand)
export class RevokeApiKeyHandler implements ICommandHandler<RevokeApiKeyCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: RevokeApiKeyCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'RevokeApiKey',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
