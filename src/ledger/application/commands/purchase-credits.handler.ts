import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { PurchaseCredits } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class PurchaseCreditsCommand extends LedgerCommandMessage<
  PurchaseCredits['data'],
  { lotId: string }
> {}

/** A new lot in the pool; the answer names it. */
@CommandHandler(PurchaseCreditsCommand)
export class PurchaseCreditsHandler implements ICommandHandler<PurchaseCreditsCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: PurchaseCreditsCommand): Promise<Executed<{ lotId: string }>> {
    return this.ledger.purchaseCredits(context, parentId, data);
  }
}
