import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { IssueApiKey } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class IssueApiKeyCommand extends LedgerCommandMessage<IssueApiKey['data'], null> {}

@CommandHandler(IssueApiKeyCommand)
export class IssueApiKeyHandler implements ICommandHandler<IssueApiKeyCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: IssueApiKeyCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'IssueApiKey',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
