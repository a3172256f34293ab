import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { IsInstant } from '../../ledger/http/dto/validators';

export class HistoryQueryDto {
  @ApiPropertyOptional({ description: 'inclusive lower bound on recordedAt (ISO 8601 with zone)' })
  @IsOptional()
  @IsInstant()
  from?: string;

  @ApiPropertyOptional({ description: 'exclusive upper bound on recordedAt (ISO 8601 with zone)' })
  @IsOptional()
  @IsInstant()
  to?: string;

  @ApiPropertyOptional({ description: 'the nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(400)
  cursor?: string;

  @ApiPropertyOptional({ description: '1–500, default 100' })
  @IsOptional()
  @Matches(/^[1-9]\d{0,2}$/, { message: 'limit must be an integer from 1 to 500' })
  limit?: string;
}
