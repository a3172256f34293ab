import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { OpenParentAccount } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class OpenParentAccountCommand extends LedgerCommandMessage<OpenParentAccount['data'], null> {}

@CommandHandler(OpenParentAccountCommand)
export class OpenParentAccountHandler implements ICommandHandler<OpenParentAccountCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: OpenParentAccountCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'OpenParentAccount',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
