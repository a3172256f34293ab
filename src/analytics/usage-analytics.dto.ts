import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';
import { USAGE_GROUP_BYS, type UsageGroupBy } from '../projections';

/** Whole UTC days: the read model buckets usage per day of `occurredAt`. */
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}(?:T00:00(?::00(?:\.0{1,9})?)?Z)?$/;

export class UsageAnalyticsQueryDto {
  @ApiPropertyOptional({ description: 'first UTC day included (YYYY-MM-DD or midnight UTC)' })
  @IsOptional()
  @Matches(DAY_PATTERN, { message: 'from must be a UTC day: YYYY-MM-DD or YYYY-MM-DDT00:00:00Z' })
  from?: string;

  @ApiPropertyOptional({ description: 'first UTC day excluded (half-open range)' })
  @IsOptional()
  @Matches(DAY_PATTERN, { message: 'to must be a UTC day: YYYY-MM-DD or YYYY-MM-DDT00:00:00Z' })
  to?: string;

  @ApiPropertyOptional({ enum: USAGE_GROUP_BYS, description: 'default subAccount' })
  @IsOptional()
  @IsIn(USAGE_GROUP_BYS)
  groupBy?: UsageGroupBy;
}
