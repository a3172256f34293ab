import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { CloseSubAccount } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class CloseSubAccountCommand extends LedgerCommandMessage<CloseSubAccount['data'], null> {}

@CommandHandler(CloseSubAccountCommand)
export class CloseSubAccountHandler implements ICommandHandler<CloseSubAccountCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: CloseSubAccountCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'CloseSubAccount',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
