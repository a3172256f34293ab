import { Command } from '@nestjs/cqrs';
import type { RequestContext } from '../../../auth/request-context';
import type { Executed } from '../ledger.service';

/**
 * A ledger command as a route sends it on the `CommandBus`: who asks, which parent, and the command's
 * data. `Result` is what its handler answers with, so `commandBus.execute` returns it typed.
 */
export abstract class LedgerCommandMessage<Data, Result> extends Command<Executed<Result>> {
  constructor(
    readonly context: RequestContext,
    readonly parentId: string,
    readonly data: Data,
  ) {
    super();
  }
}
