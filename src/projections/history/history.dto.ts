import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { IsInstant } from '../../http/validators';
import { BalancesDto } from '../balances.dto';

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

export class ActorDto {
  @ApiProperty({ enum: ['operator', 'parent', 'sub-account', 'service'] }) type!: string;
  @ApiProperty() id!: string;
}

export class HistoryEntryDto {
  @ApiProperty({ description: 'resume after this entry: pass it as cursor' }) cursor!: string;
  @ApiProperty() eventId!: string;
  @ApiProperty({ description: 'revision in ledger-<parentId>' }) revision!: number;
  @ApiProperty({ description: 'SubAccountCreated, QuotaAllocated, CreditsReturned, UsageRecorded, …' })
  type!: string;

  @ApiProperty({ description: 'credits moved (0 for SubAccountCreated)' }) credits!: number;
  @ApiProperty({ type: String, nullable: true }) reason!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) recordedAt!: string | null;
  @ApiProperty({ type: ActorDto, nullable: true }) actor!: ActorDto | null;
  @ApiProperty({ type: String, nullable: true }) correlationId!: string | null;
  @ApiProperty({ type: String, nullable: true }) causationId!: string | null;
  @ApiProperty({ type: BalancesDto, description: 'the sub-account after this entry' })
  balancesAfter!: BalancesDto;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) occurredAt!: string | null;
  @ApiProperty({ type: String, nullable: true }) meter!: string | null;
  @ApiProperty({ type: String, nullable: true }) usageId!: string | null;
  @ApiProperty({ type: String, nullable: true }) idempotencyKey!: string | null;
  @ApiProperty({ type: String, nullable: true }) billingPeriod!: string | null;
  @ApiProperty({ type: Boolean, nullable: true }) late!: boolean | null;
}

export class HistoryPageDto {
  @ApiProperty({ type: HistoryEntryDto, isArray: true }) entries!: HistoryEntryDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}
