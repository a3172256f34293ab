import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { ReversalResult, ReverseUsage } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class ReverseUsageCommand extends LedgerCommandMessage<
  Omit<ReverseUsage['data'], 'reversalId'>,
  ReversalResult
> {}

@CommandHandler(ReverseUsageCommand)
export class ReverseUsageHandler implements ICommandHandler<ReverseUsageCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: ReverseUsageCommand): Promise<Executed<ReversalResult>> {
    return this.ledger.reverseUsage(context, parentId, data);
  }
}
