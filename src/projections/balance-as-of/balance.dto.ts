import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsInstant } from '../../http/validators';
import { BalancesDto } from '../balances.dto';

export class BalanceQueryDto {
  @ApiPropertyOptional({ description: 'the instant (ISO 8601 with zone); now when absent' })
  @IsOptional()
  @IsInstant()
  asOf?: string;
}

export class BalanceAsOfDto extends BalancesDto {
  @ApiProperty({ format: 'date-time' }) asOf!: string;
  @ApiProperty({ description: 'false when the sub-account was created after asOf (balances 0)' })
  existed!: boolean;
}
