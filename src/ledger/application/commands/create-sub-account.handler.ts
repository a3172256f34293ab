import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { CreateSubAccount } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class CreateSubAccountCommand extends LedgerCommandMessage<CreateSubAccount['data'], null> {}

@CommandHandler(CreateSubAccountCommand)
export class CreateSubAccountHandler implements ICommandHandler<CreateSubAccountCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: CreateSubAccountCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'CreateSubAccount',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
