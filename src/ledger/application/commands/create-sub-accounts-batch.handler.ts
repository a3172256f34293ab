import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { RequestContext } from '../../../auth/request-context';
import type { CreateSubAccount } from '../../domain';
import { LedgerService, type Executed } from '../ledger.service';

/** The sub-accounts of one batch request: each is created or refused on its own, as if sent alone. */
export class CreateSubAccountsBatchCommand extends Command<PromiseSettledResult<Executed<null>>[]> {
  constructor(
    readonly context: RequestContext,
    readonly parentId: string,
    readonly subAccounts: readonly CreateSubAccount['data'][],
  ) {
    super();
  }
}

/**
 * Queues every creation in the same tick and at the same instant, so the parent's processor decides
 * them together, in order (a later one sees the earlier ones: a duplicate id in the batch is
 * `already_exists`, the pool shrinks with each initial quota), and appends them at once, in as few
 * appends as its batch limits allow (500 commands or ~900 KiB each: two for 1,000 sub-accounts).
 */
@CommandHandler(CreateSubAccountsBatchCommand)
export class CreateSubAccountsBatchHandler implements ICommandHandler<CreateSubAccountsBatchCommand> {
  constructor(private readonly ledger: LedgerService) {}

  execute({
    context,
    parentId,
    subAccounts,
  }: CreateSubAccountsBatchCommand): Promise<PromiseSettledResult<Executed<null>>[]> {
    const now = this.ledger.now();
    return Promise.allSettled(
      subAccounts.map((data) =>
        this.ledger.execute(context, parentId, { type: 'CreateSubAccount', data, metadata: { now } }),
      ),
    );
  }
}
