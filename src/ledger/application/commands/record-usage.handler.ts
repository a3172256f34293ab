import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { UsageResult } from '../../domain';
import { LedgerService, type Executed, type UsageInput } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class RecordUsageCommand extends LedgerCommandMessage<UsageInput, UsageResult> {}

/** The hot path: one record, batched with every other record waiting for the same parent. */
@CommandHandler(RecordUsageCommand)
export class RecordUsageHandler implements ICommandHandler<RecordUsageCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({ context, parentId, data }: RecordUsageCommand): Promise<Executed<UsageResult>> {
    return this.ledger.recordUsage(context, parentId, data);
  }
}
