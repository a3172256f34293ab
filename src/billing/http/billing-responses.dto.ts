import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/* Response bodies of the billing routes (src/invoicing/invoice.ts is the shape they describe). */

/** Any JSON value but null: what a replay difference may hold at its path. */
const ANY_JSON = [
  { type: 'string' },
  { type: 'number' },
  { type: 'boolean' },
  { type: 'object', additionalProperties: true },
  { type: 'array', items: {} },
];

export class InvoiceLineDto {
  @ApiProperty() meter!: string;
  @ApiProperty({ description: 'decimal price per credit', example: '0.0125' }) unitPrice!: string;
  @ApiProperty({ description: 'integer string (sums can exceed 2^53)' }) credits!: string;
  @ApiProperty({ description: 'credits × unitPrice in minor units, half-even, integer string' })
  amountMinor!: string;
  @ApiProperty({ description: 'amountMinor in major units, e.g. "12.35"' }) amount!: string;
}

export class LateUsageItemDto {
  @ApiProperty() usageId!: string;
  @ApiProperty({ format: 'date-time' }) occurredAt!: string;
  @ApiProperty() credits!: string;
}

export class LateInvoiceLineDto extends InvoiceLineDto {
  @ApiProperty({ description: 'YYYY-MM the usage occurred in' }) originalPeriod!: string;
  @ApiProperty({ type: LateUsageItemDto, isArray: true }) usage!: LateUsageItemDto[];
}

export class CreditInvoiceLineDto extends InvoiceLineDto {
  @ApiProperty({ description: 'the reversed usage' }) usageId!: string;
  @ApiProperty({ description: 'YYYY-MM of the invoice that billed it' }) originalPeriod!: string;
  @ApiProperty({ description: 'the issued invoice it corrects, which itself never changes' })
  originalInvoiceId!: string;
}

export class InvoiceSectionDto {
  @ApiProperty() subAccountId!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: InvoiceLineDto, isArray: true, description: 'empty for an idle sub-account' })
  lines!: InvoiceLineDto[];

  @ApiProperty({ type: LateInvoiceLineDto, isArray: true }) lateLines!: LateInvoiceLineDto[];
  @ApiPropertyOptional({
    type: CreditInvoiceLineDto,
    isArray: true,
    description:
      'reversals of usage billed on an issued invoice: negative amounts at the price billed, naming that invoice; present only when there are some',
  })
  creditLines?: CreditInvoiceLineDto[];

  @ApiProperty() subtotalMinor!: string;
  @ApiProperty() subtotal!: string;
}

export class InvoiceBillToDto {
  @ApiProperty({ enum: ['parent', 'sub-account'] }) type!: 'parent' | 'sub-account';
  @ApiProperty() id!: string;
}

/** What an issued invoice and a draft share. */
export class InvoiceContentDto {
  @ApiProperty() invoiceId!: string;
  @ApiProperty() parentId!: string;
  @ApiProperty({ description: 'YYYY-MM' }) period!: string;
  @ApiProperty() currency!: string;
  @ApiProperty({ type: InvoiceBillToDto }) billTo!: InvoiceBillToDto;
  @ApiProperty({ type: InvoiceSectionDto, isArray: true }) sections!: InvoiceSectionDto[];
  @ApiProperty() subtotalMinor!: string;
  @ApiProperty() totalMinor!: string;
  @ApiProperty() subtotal!: string;
  @ApiProperty() total!: string;
}

/** An invoice as the billing core builds it (replay's issued and recomputed sides). */
export class InvoiceDto extends InvoiceContentDto {
  @ApiProperty({ description: 'unique per parent, e.g. acme-2026-000042' }) number!: string;
  @ApiProperty() sequence!: number;
  @ApiProperty({ format: 'date-time' }) issuedAt!: string;
}

export class IssuedInvoiceDto extends InvoiceDto {
  @ApiProperty({ enum: ['issued'] }) status!: 'issued';
}

export class DraftInvoiceDto extends InvoiceContentDto {
  @ApiProperty({ enum: ['draft'] }) status!: 'draft';
  @ApiProperty({ type: String, nullable: true, description: 'null: a draft consumes no number' })
  number!: null;
  @ApiProperty({ type: Number, nullable: true }) sequence!: null;
  @ApiProperty({ type: String, nullable: true }) issuedAt!: null;
  @ApiProperty({ format: 'date-time', description: 'the instant the draft reflects' }) asOf!: string;
}

export class DraftDto {
  @ApiProperty() period!: string;
  @ApiProperty({ type: DraftInvoiceDto, isArray: true }) invoices!: DraftInvoiceDto[];
}

export class InvoiceListingDto {
  @ApiProperty({ type: String, nullable: true }) period!: string | null;
  @ApiProperty({ type: IssuedInvoiceDto, isArray: true }) invoices!: IssuedInvoiceDto[];
  @ApiProperty({ type: DraftDto, nullable: true, description: 'null when the period asked for is closed' })
  draft!: DraftDto | null;
}

export class SubAccountInvoicesDto {
  @ApiProperty() subAccountId!: string;
  @ApiProperty({ type: IssuedInvoiceDto, isArray: true }) invoices!: IssuedInvoiceDto[];
  @ApiProperty({ type: DraftInvoiceDto, nullable: true }) draft!: DraftInvoiceDto | null;
}

export class PeriodDto {
  @ApiProperty({ description: 'YYYY-MM' }) period!: string;
  @ApiProperty({ enum: ['open', 'closed'] }) status!: 'open' | 'closed';
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) closedAt!: string | null;
  @ApiProperty({ description: 'invoices issued for it' }) invoices!: number;
}

export class PeriodListDto {
  @ApiProperty({ type: PeriodDto, isArray: true }) periods!: PeriodDto[];
}

export class ClosedPeriodDto {
  @ApiProperty() period!: string;
  @ApiProperty({ enum: ['closed'] }) status!: 'closed';
  @ApiProperty({ format: 'date-time' }) closedAt!: string;
  @ApiProperty({ description: 'false when it was already closed: nothing recorded, the same invoices' })
  closedNow!: boolean;

  @ApiProperty({ type: IssuedInvoiceDto, isArray: true }) invoices!: IssuedInvoiceDto[];
}

export class InvoiceDifferenceDto {
  @ApiProperty() invoiceId!: string;
  @ApiProperty({ description: 'e.g. sections[0].lines[1].amountMinor; "" for a whole missing invoice' })
  path!: string;

  @ApiProperty({
    required: false,
    oneOf: ANY_JSON,
    description: 'the issued value at path; absent when none',
  })
  issued?: unknown;

  @ApiProperty({
    required: false,
    oneOf: ANY_JSON,
    description: 'the recomputed value at path; absent when none',
  })
  recomputed?: unknown;
}

export class ReplayReportDto {
  @ApiProperty() parentId!: string;
  @ApiProperty() period!: string;
  @ApiProperty({ enum: ['closed', 'open'] }) status!: 'closed' | 'open';
  @ApiProperty() matches!: boolean;
  @ApiProperty({ type: InvoiceDto, isArray: true }) issued!: InvoiceDto[];
  @ApiProperty({ type: InvoiceDto, isArray: true }) recomputed!: InvoiceDto[];
  @ApiProperty({ type: InvoiceDifferenceDto, isArray: true }) differences!: InvoiceDifferenceDto[];
  @ApiProperty({ description: 'the last revision of ledger-<parentId> the recomputation read' })
  throughRevision!: number;
}
