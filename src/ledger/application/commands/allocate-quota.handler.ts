import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { AllocateQuota } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class AllocateQuotaCommand extends LedgerCommandMessage<AllocateQuota['data'], null> {}

@CommandHandler(AllocateQuotaCommand)
export class AllocateQuotaHandler implements ICommandHandler<AllocateQuotaCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: AllocateQuotaCommand): Promise<Executed<null>> {
    return this.ledger.execute(context, parentId, {
      type: 'AllocateQuota',
      data,
      metadata: { now: this.ledger.now() },
    });
  }
}
