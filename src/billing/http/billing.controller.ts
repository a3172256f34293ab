import { Controller, Get, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Roles } from '../../auth/roles.decorator';
import { CsvOrJson, JsonOrCsv, type CsvNegotiation } from '../../http/csv-negotiation';
import { Context, type RequestContext } from '../../auth/request-context';
import {
  BillingService,
  type ClosedPeriod,
  type InvoiceListing,
  type PeriodListing,
} from '../application/billing.service';
import type { DraftInvoice, IssuedInvoice } from '../application/invoice-views';
import type { ReplayReport } from '../application/period-replay';
import { InvoicesQueryDto } from './billing.dto';
import {
  ClosedPeriodDto,
  InvoiceListingDto,
  IssuedInvoiceDto,
  PeriodListDto,
  ReplayReportDto,
  SubAccountInvoicesDto,
} from './billing-responses.dto';
import { invoicesCsv } from './invoice-csv';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/parents/:p')
export class BillingController {
  constructor(private readonly billing: BillingService) {}

  @Get('billing-periods')
  @Roles('operator', 'parent')
  @ApiOperation({ summary: "Every period from the parent's opening to now, open or closed" })
  @ApiOkResponse({ type: PeriodListDto })
  async periods(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
  ): Promise<{ periods: PeriodListing[] }> {
    return { periods: await this.billing.periods(context, parentId) };
  }

  @Post('billing-periods/:period/close')
  @Roles('operator')
  @ApiOperation({ summary: 'Close an ended period and issue its invoices; repeating it changes nothing' })
  @ApiCreatedResponse({ type: ClosedPeriodDto, description: 'closed now: the invoices issued' })
  @ApiOkResponse({
    type: ClosedPeriodDto,
    description: 'already closed: the invoices issued then, nothing recorded',
  })
  @ApiResponse({
    status: 409,
    description:
      'the period has not ended (`period_not_ended`), or its usage kept changing while its invoices were written (`invoices_changed`)',
  })
  @ApiResponse({
    status: 422,
    description:
      'one section of an invoice is larger than an event may hold (`close_too_large`), or the store refused an append for its size (`append_too_large`)',
  })
  async close(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('period') period: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ClosedPeriod> {
    const closed = await this.billing.close(context, parentId, period);
    void reply.status(closed.closedNow ? HttpStatus.CREATED : HttpStatus.OK);
    return closed;
  }

  @Get('billing-periods/:period/replay')
  @Roles('operator')
  @ApiOperation({ summary: 'Recompute the period from the event log alone and compare with what was issued' })
  @ApiOkResponse({ type: ReplayReportDto })
  replay(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('period') period: string,
  ): Promise<ReplayReport> {
    return this.billing.replay(context, parentId, period);
  }

  @Get('invoices')
  @Roles('operator', 'parent')
  @ApiOperation({
    summary: "Issued invoices (of one period with `period=`), plus the open period's live draft",
  })
  @JsonOrCsv(InvoiceListingDto, 'invoice line')
  async invoices(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Query() query: InvoicesQueryDto,
    @CsvOrJson() csv: CsvNegotiation,
  ): Promise<InvoiceListing | string> {
    const listing = await this.billing.invoices(context, parentId, query.period);
    return csv.answer(listing, `invoices-${parentId}${query.period ? `-${query.period}` : ''}.csv`, (l) =>
      invoicesCsv([...l.invoices, ...(l.draft?.invoices ?? [])]),
    );
  }

  @Get('invoices/:invoiceId')
  @Roles('operator', 'parent', 'sub-account')
  @ApiOperation({
    summary: 'One issued invoice; a sub-account key sees only its own, if it pays its own bills',
  })
  @JsonOrCsv(IssuedInvoiceDto, 'invoice line')
  async invoice(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('invoiceId') invoiceId: string,
    @CsvOrJson() csv: CsvNegotiation,
  ): Promise<IssuedInvoice | string> {
    const invoice = await this.billing.invoice(context, parentId, invoiceId);
    return csv.answer(invoice, `${invoiceId}.csv`, (i) => invoicesCsv([i]));
  }

  @Get('sub-accounts/:s/invoices')
  @Roles('parent', 'sub-account')
  @ApiOperation({ summary: 'The invoices billed to one bill-to-sub-account sub-account, and its draft' })
  @JsonOrCsv(SubAccountInvoicesDto, 'invoice line')
  async subAccountInvoices(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @CsvOrJson() csv: CsvNegotiation,
  ): Promise<{ subAccountId: string; invoices: IssuedInvoice[]; draft: DraftInvoice | null } | string> {
    const listing = await this.billing.subAccountInvoices(context, parentId, subAccountId);
    return csv.answer(listing, `invoices-${parentId}-${subAccountId}.csv`, (l) =>
      invoicesCsv([...l.invoices, ...(l.draft ? [l.draft] : [])]),
    );
  }
}
