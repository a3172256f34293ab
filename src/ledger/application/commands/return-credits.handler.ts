import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { ReturnCredits } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class ReturnCreditsCommand extends LedgerCommandMessage<ReturnCredits['data'], null> {}

@CommandHandler(ReturnCreditsCommand)
export class ReturnCreditsHandler implements ICommandHandler<ReturnCreditsCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: ReturnCreditsCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'ReturnCredits',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
