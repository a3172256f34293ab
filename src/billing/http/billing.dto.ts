import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

export const PERIOD_PATTERN = /^\d{4}-(0[1-9]|1[0-2])$/;

export class InvoicesQueryDto {
  @ApiPropertyOptional({
    description: 'a billing period, YYYY-MM; all issued invoices and the current draft when absent',
  })
  @IsOptional()
  @Matches(PERIOD_PATTERN, { message: 'period must be YYYY-MM' })
  period?: string;
}
