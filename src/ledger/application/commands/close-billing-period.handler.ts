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

/** Attempts of a big close whose invoices changed (new usage of the period) or met a racing writer. */
const MAX_WRITE_ATTEMPTS = 5;

/**
 * Closes a period. A close whose invoices fit one append is one command, as it always was: the
 * closing and its InvoiceIssued events in one append of `ledger-<parentId>`. One that does not is
 * refused by the decision with `invoices_exceed_one_append`; then its invoices are planned from the
 * parent's state (in its queue), written in chunks to `ledgerinvoices-<parentId>`, and committed by
 * one closing decided at the same instant, which checks that the chunks hold exactly what it would
 * issue. Until that closing lands nothing refers to the chunks (docs/billing.md).
 */
@CommandHandler(CloseBillingPeriodCommand)
export class CloseBillingPeriodHandler implements ICommandHandler<CloseBillingPeriodCommand> {
  constructor(
    private readonly ledger: LedgerService,
    private readonly writer: InvoiceChunkWriter,
  ) {}

  async execute({ context, parentId, data }: CloseBillingPeriodCommand): Promise<Executed<null>> {
    const { period } = data;
    try {
      return await this.ledger.execute(context, parentId, {
        type: 'CloseBillingPeriod',
        data: { period },
        metadata: { now: this.ledger.now() },
      });
    } catch (error) {
      if (!(isDomainError(error) && error.code === 'invoices_exceed_one_append')) throw error;
    }
    for (let attempt = 1; ; attempt++) {
      const now = this.ledger.now();
      const { result: records } = await this.ledger.read(context, parentId, (state) =>
        invoiceRecordsOf(planBillingPeriodClose(state, period, now).invoices),
      );
      try {
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
        const again =
          (isDomainError(error) && error.code === 'invoices_changed') ||
          error instanceof WrongExpectedVersionError;
        if (!again || attempt >= MAX_WRITE_ATTEMPTS) throw error;
      }
    }
  }
}
