import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { UpdateParentAccount } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class UpdateParentAccountCommand extends LedgerCommandMessage<UpdateParentAccount['data'], null> {}

@CommandHandler(UpdateParentAccountCommand)
export class UpdateParentAccountHandler implements ICommandHandler<UpdateParentAccountCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: UpdateParentAccountCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'UpdateParentAccount',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
