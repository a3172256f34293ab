import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { BILLING_PERIOD_PATTERN } from '../../invoicing';

export class InvoicesQueryDto {
  @ApiPropertyOptional({
    description: 'a billing period, YYYY-MM; all issued invoices and the current draft when absent',
  })
  @IsOptional()
  @Matches(BILLING_PERIOD_PATTERN, { message: 'period must be YYYY-MM' })
  period?: string;
}
