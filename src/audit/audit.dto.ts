import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

export class AuditVerifyQueryDto {
  @ApiPropertyOptional({ description: 'first stream revision to check (default 0, the whole chain)' })
  @IsOptional()
  @Matches(/^(0|[1-9]\d{0,14})$/, { message: 'from must be a stream revision (a non-negative integer)' })
  from?: string;

  @ApiPropertyOptional({ description: 'last stream revision to check, inclusive (default: the last)' })
  @IsOptional()
  @Matches(/^(0|[1-9]\d{0,14})$/, { message: 'to must be a stream revision (a non-negative integer)' })
  to?: string;
}

export class ChainBreakDto {
  @ApiProperty({ description: 'stream revision of the first event whose link does not check out' })
  revision!: number;

  @ApiProperty({ description: 'the hash recomputed from the log (SHA-256, hex)' })
  expected!: string;

  @ApiProperty({ type: String, nullable: true, description: 'the hash the event carries (null: no link)' })
  found!: string | null;
}

export class ChainVerificationDto {
  @ApiProperty() verified!: boolean;
  @ApiProperty() streamName!: string;
  @ApiProperty({ description: 'chained events checked' }) events!: number;
  @ApiProperty({ description: 'events from before the chain existed (not hashed)' }) unchained!: number;
  @ApiProperty({ type: String, nullable: true, description: 'hash of the last event that checked out' })
  head!: string | null;

  @ApiProperty({ type: Number, nullable: true }) headRevision!: number | null;
  @ApiPropertyOptional({ type: ChainBreakDto }) firstBreak?: ChainBreakDto;
}
