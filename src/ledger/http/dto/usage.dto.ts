import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { ID_DESCRIPTION, ID_PATTERN, IsInstant, MAX_CREDITS, METER_PATTERN } from './validators';

export const MAX_BATCH_RECORDS = 1_000;

export class RecordUsageDto {
  @ApiProperty({ maxLength: 200, description: 'a repeat with the same key is recorded once (35 days)' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  idempotencyKey!: string;

  @ApiProperty({ minimum: 0, maximum: MAX_CREDITS })
  @IsInt()
  @Min(0)
  @Max(MAX_CREDITS)
  credits!: number;

  @ApiPropertyOptional({ example: 'image-optimisation', description: '"default" when absent' })
  @IsOptional()
  @IsString()
  @Matches(METER_PATTERN, { message: "meter must be 1–64 of A-Z a-z 0-9 '_' '.' ':' '/' '-'" })
  meter?: string;

  @ApiPropertyOptional({
    example: '2026-10-31T22:59:00Z',
    description: 'when it happened; now when absent; at most 5 minutes ahead and 35 days back',
  })
  @IsOptional()
  @IsInstant()
  occurredAt?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] },
    description: 'up to 32 string, number or boolean values',
  })
  @IsOptional()
  @IsObject()
  attributes?: Record<string, string | number | boolean>;
}

export class BatchUsageRecordDto extends RecordUsageDto {
  @ApiProperty({ description: ID_DESCRIPTION })
  @IsString()
  @Matches(ID_PATTERN, { message: `subAccountId must be ${ID_DESCRIPTION}` })
  subAccountId!: string;
}

export class BatchUsageDto {
  @ApiProperty({ type: [BatchUsageRecordDto], maxItems: MAX_BATCH_RECORDS, minItems: 1 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_RECORDS)
  @ValidateNested({ each: true })
  @Type(() => BatchUsageRecordDto)
  records!: BatchUsageRecordDto[];
}
