import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { WrongExpectedVersionError } from '@eventstore/db-client';
import {
  invoiceChunksOf,
  invoiceRecordsOf,
  isDomainError,
  planBillingPeriodClose,
  type CloseBillingPeriod,
} from '../../domain';
import { InvoiceChunkWriter } from '../invoice-chunk.writer';
import { LedgerService, type Executed } from '../ledger.service';
import { LedgerCommandMessage } from './ledger-command-message';

export class CloseBillingPeriodCommand extends LedgerCommandMessage<
  Omit<CloseBillingPeriod['data'], 'invoices'>,
  null
> {}

/** Attempts of a close whose invoices changed under it (new usage of the period) or met a racing writer. */
const MAX_WRITE_ATTEMPTS = 5;

/**
 * Closes a period. Its invoices are first planned from the parent's state, in its queue, at one
 * instant. A close whose invoices fit one append is then one command, as it always was: the closing
 * and its InvoiceIssued events in one append of `ledger-<parentId>` (the decision refuses it with
 * `invoices_exceed_one_append` should it have grown past that meanwhile). One that does not fit is
 * written in chunks to `ledgerinvoices-<parentId>` and committed by one closing decided at the same
 * instant, which checks that the chunks hold exactly what it would issue. Until that closing lands
 * nothing refers to the chunks (docs/billing.md).
 */
@CommandHandler(CloseBillingPeriodCommand)
export class CloseBillingPeriodHandler implements ICommandHandler<CloseBillingPeriodCommand> {
  constructor(
    private readonly ledger: LedgerService,
    private readonly writer: InvoiceChunkWriter,
  ) {}

  async execute({ context, parentId, data }: CloseBillingPeriodCommand): Promise<Executed<null>> {
    const { period } = data;
    for (let attempt = 1; ; attempt++) {
      const now = this.ledger.now();
      // Planned in the parent's queue; refused there as the close would be (period_not_ended…).
      const { result: records } = await this.ledger.read(context, parentId, (state) => {
        const plan = planBillingPeriodClose(state, period, now);
        return plan.fitsOneAppend ? null : invoiceRecordsOf(plan.invoices);
      });
      try {
        if (records === null) {
          return await this.ledger.execute(context, parentId, {
            type: 'CloseBillingPeriod',
            data: { period },
            metadata: { now },
          });
        }
        const invoices = await this.writer.write(
          parentId,
          invoiceChunksOf(records),
          this.ledger.metadata(context, now),
        );
        return await this.ledger.execute(context, parentId, {
          type: 'CloseBillingPeriod',
          data: { period, invoices },
          metadata: { now },
        });
      } catch (error) {
        // Usage of the period landed after the plan: it no longer fits, or the chunks no longer hold
        // what the close would issue; or another instance wrote chunks of this parent meanwhile.
        const again =
          (isDomainError(error) &&
            (error.code === 'invoices_exceed_one_append' || error.code === 'invoices_changed')) ||
          error instanceof WrongExpectedVersionError;
        if (!again || attempt >= MAX_WRITE_ATTEMPTS) throw error;
      }
    }
  }
}
