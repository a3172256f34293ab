import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { ProblemDto } from '../../../http/problem.dto';

/*
 * Response bodies of the ledger's routes, declared on each route by its controller for the OpenAPI
 * document. They describe what the views in ledger.views.ts and ledger.queries.ts answer; the
 * contract test drives a client generated from them against the service.
 */

export class PoolDto {
  @ApiProperty() purchased!: number;
  @ApiProperty({ description: 'sum of the quotas: allocations net of returns' }) allocated!: number;
  @ApiProperty({ description: 'purchased − allocated − expired' }) available!: number;
  @ApiProperty({ description: "sum of the sub-accounts' used credits" }) used!: number;
  @ApiProperty({ description: 'credits lapsed with their lots, from the pool and from quotas' })
  expired!: number;
}

export class ParentDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'ISO 4217 code' }) currency!: string;
  @ApiProperty({ description: 'decimal price per credit of the current period', example: '0.00099' })
  creditPrice!: string;

  @ApiPropertyOptional({ description: 'the price from the next period, when it differs' })
  pendingCreditPrice?: string;

  @ApiPropertyOptional({ description: 'YYYY-MM the pending price applies from, present with it' })
  pendingEffectiveFrom?: string;

  @ApiProperty({ format: 'date-time' }) openedAt!: string;
  @ApiProperty({ type: PoolDto }) pool!: PoolDto;
  @ApiProperty({ type: [Number], description: 'percent of quota at which QuotaThresholdReached is recorded' })
  alertThresholds!: number[];

  @ApiProperty({ type: Number, nullable: true, description: 'PoolBalanceLow below this; null: never' })
  lowPoolThreshold!: number | null;
}

export class PurchasedCreditsDto extends ParentDto {
  @ApiProperty({ description: 'the lot the purchase created', example: 'lot-3' }) lotId!: string;
}

export class LotDto {
  @ApiProperty({ example: 'lot-1' }) lotId!: string;
  @ApiProperty({ enum: ['paid', 'granted'] }) kind!: 'paid' | 'granted';
  @ApiProperty({ description: 'credits bought' }) credits!: number;
  @ApiProperty({ description: 'neither used nor expired: inPool + inQuotas' }) remaining!: number;
  @ApiProperty() inPool!: number;
  @ApiProperty({ description: 'unused in quotas' }) inQuotas!: number;
  @ApiProperty() used!: number;
  @ApiProperty() expired!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expiresAt!: string | null;
  @ApiProperty({ minimum: 0, maximum: 100, description: 'lower burns first' }) priority!: number;
  @ApiProperty({ type: String, nullable: true }) reference!: string | null;
  @ApiProperty({ format: 'date-time' }) purchasedAt!: string;
}

export class LotListDto {
  @ApiProperty({ type: LotDto, isArray: true, description: 'in burn order' }) items!: LotDto[];
}

export class ExpiringCreditsDto {
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiProperty() credits!: number;
}

export class SecretKeyDto {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'the secret, shown this once' }) secret!: string;
  @ApiProperty({ description: 'the first characters of the secret, to recognise it in lists' })
  prefix!: string;
}

export class OpenedParentDto extends ParentDto {
  @ApiProperty({ type: SecretKeyDto, description: "the parent's first key; its secret is shown only here" })
  apiKey!: SecretKeyDto;
}

export class IssuedApiKeyDto extends SecretKeyDto {
  @ApiProperty({ type: String, nullable: true, description: 'null for a parent key' })
  subAccountId!: string | null;

  @ApiProperty({ format: 'date-time' }) issuedAt!: string;
}

export class ApiKeyDto {
  @ApiProperty() id!: string;
  @ApiProperty({ type: String, nullable: true, description: 'null for a parent key' })
  subAccountId!: string | null;

  @ApiProperty() prefix!: string;
  @ApiProperty({ enum: ['active', 'revoked'] }) status!: 'active' | 'revoked';
  @ApiProperty({ format: 'date-time' }) issuedAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) revokedAt!: string | null;
}

export class ApiKeyListDto {
  @ApiProperty({ type: ApiKeyDto, isArray: true }) items!: ApiKeyDto[];
}

export class SubAccountDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: String, nullable: true }) region!: string | null;
  @ApiProperty({ enum: ['active', 'closed'] }) status!: 'active' | 'closed';
  @ApiProperty({ enum: ['bill-to-parent', 'bill-to-sub-account'], description: 'of the current period' })
  billingModel!: 'bill-to-parent' | 'bill-to-sub-account';

  @ApiPropertyOptional({
    enum: ['bill-to-parent', 'bill-to-sub-account'],
    description: 'the model from the next period, when it differs',
  })
  pendingBillingModel?: 'bill-to-parent' | 'bill-to-sub-account';

  @ApiProperty({ description: 'credits allocated, net of returns' }) quota!: number;
  @ApiProperty() used!: number;
  @ApiProperty({ description: 'quota − used' }) remaining!: number;
  @ApiProperty({
    type: ExpiringCreditsDto,
    isArray: true,
    description: 'unused credits of lots with an expiry, per expiresAt, soonest first',
  })
  expiring!: ExpiringCreditsDto[];

  @ApiProperty({ type: Number, nullable: true, description: 'allocated again at each period start' })
  recurringAllocation!: number | null;

  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) closedAt!: string | null;

  @ApiPropertyOptional({
    description: 'price per credit this period; absent for its own key while it is billed to its parent',
  })
  creditPrice?: string;

  @ApiPropertyOptional({ description: 'the price from the next period, when it differs' })
  pendingCreditPrice?: string;

  @ApiPropertyOptional({
    description:
      'YYYY-MM the pending terms apply from, present with pendingBillingModel or pendingCreditPrice',
  })
  pendingEffectiveFrom?: string;
}

export class SubAccountPageDto {
  @ApiProperty({ type: SubAccountDto, isArray: true }) items!: SubAccountDto[];
  @ApiProperty({ type: String, nullable: true, description: 'pass as cursor for the next page' })
  nextCursor!: string | null;
}

export class UsageRecordedDto {
  @ApiProperty() usageId!: string;
  @ApiProperty({ description: "the sub-account's credits left after it" }) remaining!: number;
}

export class BatchUsageSuccessDto extends UsageRecordedDto {
  @ApiProperty({ enum: [200, 201], description: '201 recorded now, 200 a repeat of a recorded one' })
  status!: 200 | 201;
}

export class BatchUsageFailureDto {
  @ApiProperty({ description: 'the status this record would have had alone' }) status!: number;
  @ApiProperty({ type: ProblemDto }) error!: ProblemDto;
}

export class BatchUsageResultsDto {
  @ApiProperty({
    type: 'array',
    items: {
      oneOf: [{ $ref: getSchemaPath(BatchUsageSuccessDto) }, { $ref: getSchemaPath(BatchUsageFailureDto) }],
    },
    description: 'one per record, in order',
  })
  results!: (BatchUsageSuccessDto | BatchUsageFailureDto)[];
}

export class BatchSubAccountSuccessDto {
  @ApiProperty({ enum: [201], description: 'created now' }) status!: 201;
  @ApiProperty({ type: SubAccountDto }) subAccount!: SubAccountDto;
}

export class BatchSubAccountFailureDto {
  @ApiProperty({ description: 'the status this sub-account would have had alone (409 `already_exists`…)' })
  status!: number;
  @ApiProperty({ type: ProblemDto }) error!: ProblemDto;
}

export class BatchSubAccountResultsDto {
  @ApiProperty({
    type: 'array',
    items: {
      oneOf: [
        { $ref: getSchemaPath(BatchSubAccountSuccessDto) },
        { $ref: getSchemaPath(BatchSubAccountFailureDto) },
      ],
    },
    description: 'one per sub-account asked for, in order',
  })
  results!: (BatchSubAccountSuccessDto | BatchSubAccountFailureDto)[];
}
