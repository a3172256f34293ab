import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { UpdateSubAccount } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class UpdateSubAccountCommand extends LedgerCommandMessage<UpdateSubAccount['data'], null> {}

@CommandHandler(UpdateSubAccountCommand)
export class UpdateSubAccountHandler implements ICommandHandler<UpdateSubAccountCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: UpdateSubAccountCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'UpdateSubAccount',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
