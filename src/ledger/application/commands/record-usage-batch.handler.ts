import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { UsageResult } from '../../domain';
import type { RequestContext } from '../../../auth/request-context';
import { LedgerService, type Executed, type UsageInput } from '../ledger.service';

/** The records of one batch request: each settles on its own, as if sent alone. */
export class RecordUsageBatchCommand extends Command<PromiseSettledResult<Executed<UsageResult>>[]> {
  constructor(
    readonly context: RequestContext,
    readonly parentId: string,
    readonly records: readonly UsageInput[],
  ) {
    super();
  }
}

/**
 * Queues every record in the same tick, so the processor decides them together, in order, and
 * appends them at once; answers once each has settled, in the records' order.
 */
@CommandHandler(RecordUsageBatchCommand)
export class RecordUsageBatchHandler implements ICommandHandler<RecordUsageBatchCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({
    context,
    parentId,
    records,
  }: RecordUsageBatchCommand): Promise<PromiseSettledResult<Executed<UsageResult>>[]> {
    return Promise.allSettled(this.ledger.recordUsageBatch(context, parentId, records));
  }
}
