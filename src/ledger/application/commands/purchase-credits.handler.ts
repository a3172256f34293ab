import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { PurchaseCredits } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class PurchaseCreditsCommand extends LedgerCommandMessage<PurchaseCredits['data'], null> {}

@CommandHandler(PurchaseCreditsCommand)
export class PurchaseCreditsHandler implements ICommandHandler<PurchaseCreditsCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: PurchaseCreditsCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'PurchaseCredits',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
