import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { ID_PATTERN } from '../../ledger/domain/ledger.validation';
import { USAGE_DIMENSIONS } from './usage-report';

/** Whole UTC days: the read model buckets usage per day of `occurredAt`. */
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}(?:T00:00(?::00(?:\.0{1,9})?)?Z)?$/;
const DIMENSION = USAGE_DIMENSIONS.join('|');
const GROUP_BY_PATTERN = new RegExp(`^(?:${DIMENSION})(?:,(?:${DIMENSION})){0,3}$`);

/** `GET …/sub-accounts/{s}/usage`: the usage of one sub-account. */
export class UsageAnalyticsQueryDto {
  @ApiPropertyOptional({
    description: 'first UTC day included (YYYY-MM-DD or midnight UTC)',
    example: '2026-10-01',
  })
  @IsOptional()
  @Matches(DAY_PATTERN, { message: 'from must be a UTC day: YYYY-MM-DD or YYYY-MM-DDT00:00:00Z' })
  from?: string;

  @ApiPropertyOptional({ description: 'first UTC day excluded (half-open range)', example: '2026-11-01' })
  @IsOptional()
  @Matches(DAY_PATTERN, { message: 'to must be a UTC day: YYYY-MM-DD or YYYY-MM-DDT00:00:00Z' })
  to?: string;

  @ApiPropertyOptional({
    description:
      `one or more of ${USAGE_DIMENSIONS.join(', ')}, comma-separated and combinable ` +
      '(e.g. `subAccount,meter`); default `subAccount`',
    example: 'subAccount,meter',
  })
  @IsOptional()
  @Matches(GROUP_BY_PATTERN, {
    message: `groupBy must be one or more of ${USAGE_DIMENSIONS.join(', ')}, comma-separated`,
  })
  groupBy?: string;
}

/** `GET /v1/parents/{p}/usage`: every sub-account's usage, or one's with `subAccountId`. */
export class ParentUsageQueryDto extends UsageAnalyticsQueryDto {
  @ApiPropertyOptional({ description: "only this sub-account's usage" })
  @IsOptional()
  @Matches(ID_PATTERN, { message: 'subAccountId must be a sub-account id' })
  subAccountId?: string;
}

export class UsageTotalDto {
  @ApiProperty() credits!: number;
  @ApiProperty({ description: 'usage records counted' }) records!: number;
}

export class UsageGroupDto extends UsageTotalDto {
  @ApiProperty({ description: 'the grouped values joined with `,`, in groupBy order' }) key!: string;
  @ApiPropertyOptional({ description: 'when grouped by subAccount' }) subAccountId?: string;
  @ApiPropertyOptional({ description: 'when grouped by meter' }) meter?: string;
  @ApiPropertyOptional({ description: 'YYYY-MM-DD, when grouped by day' }) day?: string;
  @ApiPropertyOptional({ description: 'YYYY-MM, when grouped by month' }) month?: string;
}

export class UsageReportDto {
  @ApiProperty({ enum: USAGE_DIMENSIONS, isArray: true }) groupBy!: string[];
  @ApiProperty({ type: String, nullable: true }) from!: string | null;
  @ApiProperty({ type: String, nullable: true }) to!: string | null;
  @ApiProperty({ type: String, nullable: true }) subAccountId!: string | null;
  @ApiProperty({ type: UsageGroupDto, isArray: true }) groups!: UsageGroupDto[];
  @ApiProperty({ type: UsageTotalDto }) total!: UsageTotalDto;
}
