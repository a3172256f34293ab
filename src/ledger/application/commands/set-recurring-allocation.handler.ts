import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { SetRecurringAllocation } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class SetRecurringAllocationCommand extends LedgerCommandMessage<
  SetRecurringAllocation['data'],
  null
> {}

@CommandHandler(SetRecurringAllocationCommand)
export class SetRecurringAllocationHandler implements ICommandHandler<SetRecurringAllocationCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: SetRecurringAllocationCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'SetRecurringAllocation',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
