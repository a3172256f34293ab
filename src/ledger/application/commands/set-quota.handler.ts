import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { SetQuota } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class SetQuotaCommand extends LedgerCommandMessage<SetQuota['data'], null> {}

@CommandHandler(SetQuotaCommand)
export class SetQuotaHandler implements ICommandHandler<SetQuotaCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: SetQuotaCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'SetQuota',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
