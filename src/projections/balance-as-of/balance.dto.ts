import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsInstant } from '../../ledger/http/dto/validators';

export class BalanceQueryDto {
  @ApiPropertyOptional({ description: 'the instant (ISO 8601 with zone); now when absent' })
  @IsOptional()
  @IsInstant()
  asOf?: string;
}
