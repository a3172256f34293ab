import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { CloseBillingPeriod } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class CloseBillingPeriodCommand extends LedgerCommandMessage<CloseBillingPeriod['data'], null> {}

@CommandHandler(CloseBillingPeriodCommand)
export class CloseBillingPeriodHandler implements ICommandHandler<CloseBillingPeriodCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: CloseBillingPeriodCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'CloseBillingPeriod',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
